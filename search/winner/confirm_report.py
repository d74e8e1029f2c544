"""The confirm stage's report: the verdict in words, a table per value
(confirm.md), every run (confirm.csv) and a plot of accuracy per value with every
seed's point and the 95% interval of its mean (confirm.png)."""

import csv
from pathlib import Path

from search.core import confirm_stats, ownership, stores

MARKDOWN_FILE, CSV_FILE, PLOT_FILE = "confirm.md", "confirm.csv", "confirm.png"
REPORT_FILES = (MARKDOWN_FILE, CSV_FILE, PLOT_FILE)
CSV_COLUMNS = ("value", "seed", "accuracy", "param_count", "latency_ms", "train_seconds",
               "refused_by_space", "run_id")


def verdict_lines(rows, context):
    """The answer first: the best value, then each other value against it."""
    if not rows:  # e.g. --time-budget left no time for a first run
        return [f"## Controlled ablation of {context['vary']}: no run finished yet "
                f"(the same command trains them)"]
    best = rows[0]
    k = len(best["seeds"])
    lines = [f"## Controlled ablation of {context['vary']}: best {best['value']} "
             f"({_pct(best['accuracy_mean'])} {context['split']} accuracy over {k} "
             f"seed{'s' if k != 1 else ''})", ""]
    lines += [f"- {confirm_stats.verdict_words(row, best)}" + _refused(row) for row in rows[1:]]
    if k < 2:
        lines.append("- one seed: means only, there is no interval (use --seeds 2 or more)")
    lines += ["", f"The winner's other hyperparameters kept; each value trained "
                  f"{context['epochs']} epochs per seed (seeds 0..{k - 1}) and scored on "
                  f"{context['split']}. Intervals: paired Student t over seeds, 95%."]
    return lines


def _refused(row):
    return f" (the space's rule would refuse it: {row['refused']})" if row["refused"] else ""


def markdown(rows, context, hyperband):
    """confirm.md: the verdict, the per-value table, and Hyperband's own ranking
    (`hyperband`: {value text: best val_accuracy in the search}) beside it."""
    lines = [*verdict_lines(rows, context), "",
             f"| {context['vary']} | mean accuracy | std | vs best (95% CI, points) | "
             f"verdict | parameters | latency ms | search's best val |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        difference = row["difference"]
        interval = ("-" if difference is None or difference.low is None else
                    f"{100 * difference.mean:+.1f} ({100 * difference.low:+.1f} to "
                    f"{100 * difference.high:+.1f})")
        verdict = "best" if difference is None else difference.verdict
        lines.append(
            f"| {row['value']}{' (refused)' if row['refused'] else ''} | "
            f"{_pct(row['accuracy_mean'])} | {_pct(row['accuracy_std'])} | {interval} | "
            f"{verdict} | {_int(row['param_count_mean'])} | {_ms(row['latency_ms_mean'])} | "
            f"{_pct(hyperband.get(str(row['value'])))} |")
    return "\n".join(lines) + "\n"


def write_csv(results, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in sorted(results, key=lambda r: (str(r["value"]), r["seed"])):
            writer.writerow({**row, "refused_by_space": row.get("refused") or ""})


def plot(rows, context, path):
    """Accuracy per value: each seed a dot, the mean a bar with its 95% interval."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for position, row in enumerate(rows):
        scores = [row["scores"][seed] for seed in sorted(row["scores"])]
        axes.scatter([position] * len(scores), scores, color="tab:blue", alpha=0.6, zorder=3)
        interval = confirm_stats.mean_interval(scores)
        if interval is not None:
            axes.errorbar(position, row["accuracy_mean"], capsize=8, color="black",
                          yerr=[[row["accuracy_mean"] - interval[0]],
                                [interval[1] - row["accuracy_mean"]]], zorder=2)
        axes.scatter(position, row["accuracy_mean"], marker="_", s=600, color="black")
    axes.set_xticks(range(len(rows)),
                    [f"{r['value']}{'*' if r['refused'] else ''}" for r in rows])
    axes.set(xlabel=context["vary"] + " (*: the space's rule would refuse it)",
             ylabel=f"{context['split']} accuracy",
             title=f"{context['vary']} with the winner's other hyperparameters: each seed, "
                   f"mean, 95% interval")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def folders(out_dir, experiment, parent_run_id, vary):
    """The report folders, outermost first, each with the words that name it:
    `--out`, or the search's report folder (the one `bridge-search report` writes)
    and its confirm/VARY. Every one is under the ownership rule (report folders)."""
    if out_dir:
        return [(Path(out_dir), f"--out {str(out_dir)!r}")]
    run_folder = Path("reports", ownership.path_slug(experiment), parent_run_id)
    return [(run_folder, "report folder"), (run_folder / "confirm" / vary, "report folder")]


def check_folders(chain):
    """Before anything trains: each folder usable and absent, empty or ours."""
    for path, option in chain:
        stores.check_dir(path, option)
        ownership.check_folder(path, option, *ownership.REPORT_RULE)


def write_report(chain, results, rows, context, hyperband):
    """All three files into the innermost folder of `chain`, each folder claimed
    by the ownership rule right before; returns the markdown."""
    for path, option in chain:
        ownership.claim_folder(path, option, *ownership.REPORT_RULE, files=REPORT_FILES)
    folder = chain[-1][0]
    text = markdown(rows, context, hyperband)
    (folder / MARKDOWN_FILE).write_text(text)
    write_csv(results, folder / CSV_FILE)
    plot(rows, context, folder / PLOT_FILE)
    return text


def _pct(value):
    return "-" if value is None else f"{value:.4f}"


def _int(value):
    return "-" if value is None else f"{int(round(value)):,}"


def _ms(value):
    return "-" if value is None else f"{value:.2f}"
