"""The trade-off: val accuracy against cost (parameters, latency), per value of
the space's question (the bridge, for the default space).

A trial is on a Pareto front when no other trial is both at least as cheap and
more accurate. The report (search/tracking/report.py) shows, for parameters and
for latency at batch 1, each value's front as a table and a plot
(`pareto_front.png`), and one line per value that says what it costs and gives
against the most accurate one on this data, e.g.
"gap: 0.4 points below flatten at 1/12 of the parameters, 0.6x its latency".
Works on report.Trial records (group, param_count, latency_ms,
best_val_accuracy, finished); `label` names the question (the bridge, by default).
"""

PARETO_PLOT = "pareto_front.png"
TRADEOFF_FILE = "tradeoff.md"  # the verdict lines, also a tag of the parent run
COSTS = {"params": ("param_count", "parameters"), "latency": ("latency_ms", "ms per image")}


def front(trials, cost):
    """The trials no other trial beats on both `cost` (lower) and val accuracy
    (higher), cheapest first. `cost` is a Trial attribute name."""
    scored = sorted((t for t in trials if t.finished and getattr(t, cost) is not None),
                    key=lambda t: (getattr(t, cost), -t.best_val_accuracy))
    kept, best = [], -1.0
    for trial in scored:
        if trial.best_val_accuracy > best:
            kept.append(trial)
            best = trial.best_val_accuracy
    return kept


def fronts_by_group(trials, cost):
    groups = dict.fromkeys(t.group for t in trials if t.finished)
    return {group: front([t for t in trials if t.group == group], cost) for group in groups}


def _ratio(value, reference):
    """'1/12 of' or '3.0x' (value against reference), for the verdict line."""
    if not value or not reference:
        return None
    if value < reference:
        return f"1/{reference / value:.0f} of" if reference / value >= 2 else \
            f"{value / reference:.2f}x"
    return f"{value / reference:.1f}x"


def best_row_per_group(trials):
    """{group: its best finished trial}, best group first."""
    best = {}
    for trial in trials:
        if trial.finished and (trial.group not in best or
                               trial.best_val_accuracy > best[trial.group].best_val_accuracy):
            best[trial.group] = trial
    return dict(sorted(best.items(), key=lambda item: -item[1].best_val_accuracy))


def verdict_lines(trials, label):
    """One line per group: its best trial against the most accurate group's."""
    best = best_row_per_group(trials)
    if not best:
        return []
    top = next(iter(best.values()))
    lines = [f"{top.group}: the most accurate {label} on this data, val accuracy "
             f"{top.best_val_accuracy:.4f} with {_count(top.param_count)} parameters"
             + (f", {top.latency_ms:.2f} ms per image" if top.latency_ms else "") + "."]
    for group, trial in best.items():
        if trial is top:
            continue
        points = (top.best_val_accuracy - trial.best_val_accuracy) * 100
        costs = [f"{ratio} the parameters" for ratio in
                 [_ratio(trial.param_count, top.param_count)] if ratio]
        costs += [f"{ratio} its latency" for ratio in
                  [_ratio(trial.latency_ms, top.latency_ms)] if ratio]
        lines.append(f"{group}: {points:.1f} points below {top.group} at "
                     f"{', '.join(costs) or 'an unknown cost'} (best val accuracy "
                     f"{trial.best_val_accuracy:.4f}, {_count(trial.param_count)} parameters).")
    return lines


def _count(value):
    return "-" if value is None else f"{int(value):,}"


def markdown_section(trials, table, label):
    """The report's trade-off section; `table(columns, rows)` formats a table."""
    lines = ["", f"## Trade-off: Pareto front per {label}", ""]
    lines += [f"- {line}" for line in verdict_lines(trials, label)]
    for cost, unit in COSTS.values():
        rows = [(group, t.trial_id, _count(t.param_count),
                 "-" if t.latency_ms is None else f"{t.latency_ms:.2f}",
                 f"{t.best_val_accuracy:.4f}", t.run_id)
                for group, kept in fronts_by_group(trials, cost).items() for t in kept]
        lines += ["", f"### val accuracy against {unit}", "",
                  table((label, "trial", "params", "ms/image", "best val_acc", "run id"),
                        rows)]
    return "\n".join(lines) + "\n"


def plot_fronts(trials, colours, path, label):
    """Two panels (parameters, latency): every finished trial, and each group's
    Pareto front as a step line."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter
    figure, panels = plt.subplots(1, 2, figsize=(11, 4.5))
    for axes, (cost, unit) in zip(panels, COSTS.values()):
        for group, kept in fronts_by_group(trials, cost).items():
            others = [t for t in trials if t.group == group and t.finished
                      and getattr(t, cost) is not None]
            axes.scatter([getattr(t, cost) for t in others],
                         [t.best_val_accuracy for t in others], color=colours[group],
                         alpha=0.4)
            if kept:
                axes.step([getattr(t, cost) for t in kept],
                          [t.best_val_accuracy for t in kept], where="post", marker="o",
                          color=colours[group], label=group)
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # crowded labels between decades
        axes.set(xlabel=unit, ylabel="best val_accuracy",
                 title=f"Pareto front per {label}: val_accuracy against {unit}")
        axes.grid(alpha=0.3)
        axes.legend(title=label, fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
