"""The confirm stage's report files from synthetic results (no training): the
verdict first, one row per value, every run in the CSV, the plot; with one seed
it says there is no interval."""

import csv

import pytest

from search.core import confirm_stats
from search.winner import confirm_report

CONTEXT = {"vary": "bridge", "epochs": 4, "split": "test"}


def _results(table, refused=()):
    return [{"value": value, "seed": seed, "accuracy": score, "param_count": 1000.0,
             "latency_ms": 2.0, "train_seconds": 3.0, "run_id": f"{value}{seed}",
             "refused": "depth too small" if value in refused else None}
            for value, scores in table.items() for seed, score in enumerate(scores)]


def test_report_with_three_seeds(tmp_path):
    results = _results({"flatten": [0.95, 0.96, 0.97], "gap": [0.80, 0.82, 0.81],
                        "gmp": [0.96, 0.94, 0.975]}, refused=("gap",))
    rows = confirm_stats.summarise(results)
    text = confirm_report.write_report([(tmp_path, "--out")], results, rows, CONTEXT,
                                       hyperband={"flatten": 0.93, "gap": 0.95})
    lines = text.splitlines()
    assert lines[0] == ("## Controlled ablation of bridge: best flatten (0.9600 test "
                        "accuracy over 3 seeds)")
    assert lines[2].startswith("- gmp: within noise vs flatten (-0.2 points, 95% CI ")
    assert lines[3].startswith("- gap: behind vs flatten (-15.0 points, 95% CI ")
    assert lines[3].endswith("(the space's rule would refuse it: depth too small)")
    assert "| gap (refused) | 0.8100 | 0.0100 |" in text and "| 0.9500 |" in text
    gmp_row = next(line for line in lines if line.startswith("| gmp | "))
    assert gmp_row.endswith("| - |")  # the search never tried gmp
    with open(tmp_path / confirm_report.CSV_FILE) as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 9 and written[0]["value"] == "flatten"
    assert {r["refused_by_space"] for r in written if r["value"] == "gap"} == {"depth too small"}
    assert (tmp_path / confirm_report.PLOT_FILE).stat().st_size > 5000


def test_one_seed_says_there_is_no_interval(tmp_path):
    results = _results({"flatten": [0.9], "gap": [0.8]})
    rows = confirm_stats.summarise(results)
    lines = confirm_report.verdict_lines(rows, CONTEXT)
    assert "over 1 seed)" in lines[0]
    assert lines[2] == "- gap: no interval vs flatten (-10.0 points; one seed: no interval)"
    assert "- one seed: means only, there is no interval (use --seeds 2 or more)" in lines
    confirm_report.write_report([(tmp_path, "--out")], results, rows, CONTEXT, hyperband={})
    assert (tmp_path / confirm_report.PLOT_FILE).exists()


@pytest.mark.parametrize("k", [2, 5])
def test_the_plot_has_every_seed(tmp_path, k):
    results = _results({"a": [0.5 + i / 100 for i in range(k)], "b": [0.6] * k})
    rows = confirm_stats.summarise(results)
    confirm_report.plot(rows, CONTEXT, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 5000
