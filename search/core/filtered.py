"""Run a long-lived command (the model server) as a child whose stderr passes
through a line filter: TensorFlow's start-up lines, written by the server's own
worker process when it loads the model, are not the tool's lines.

The child stays in this process group, so Ctrl-C reaches it directly; this
process ignores SIGINT meanwhile and hands SIGTERM on, then exits with the
child's exit code."""

import signal
import subprocess
import sys


def run_filtered(command, env, drop):
    """Run `command`; copy each line of its stderr to ours unless `drop(line)`."""
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.SIGTERM: signal.signal(signal.SIGTERM,
                                              lambda number, _: process.send_signal(number))}
    try:
        for raw in process.stderr:
            line = raw.decode(errors="replace")
            if not drop(line):
                sys.stderr.write(line)
                sys.stderr.flush()
        return process.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
