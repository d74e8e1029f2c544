"""A benchmark's result as one JSON record, the input of scripts/benchmarks_md.py.

Every `scripts/bench_*.py` takes `--json PATH` and, given it, writes its figures
here with the date, the commit and the command that produced them. To put a new
result into docs/benchmarks.md:

    python scripts/bench_overhead.py --json docs/benchmarks/overhead.json
    python scripts/benchmarks_md.py          # regenerates docs/benchmarks.md

A record written by a benchmark has no `summary`, `table` or `notes`: the
generator lists its figures; add those keys by hand to say what the figures mean.
"""

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_option(parser, name):
    """The `--json PATH` option of a benchmark called `name`."""
    parser.add_argument("--json", metavar="PATH", dest="record_path",
                        help=f"also write the figures as a benchmark record "
                             f"(e.g. docs/benchmarks/{name}.json; then run "
                             f"scripts/benchmarks_md.py)")


def commit():
    """The checkout's commit, `-dirty` when it has uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine():
    return f"{os.cpu_count()} CPUs ({platform.machine()}), load {os.getloadavg()[0]:.1f} at the end"


def write(path, benchmark, title, figures):
    """Write the record of this run to `path` (nothing when `path` is None)."""
    if not path:
        return
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    record = {
        "title": title,
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "commit": commit(),
        "command": shlex.join(["python", script, *sys.argv[1:]]),
        "machine": machine(),
        "source": "measured",
        "figures": figures,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"benchmark record: {path}", file=sys.stderr)
