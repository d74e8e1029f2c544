"""The trade-off: val accuracy against cost (parameters, latency), per bridge.

A trial is on a Pareto front when no other trial is both at least as cheap and
more accurate. The report (search/tracking/report.py) shows, for parameters and
for latency at batch 1, each bridge's front as a table and a plot
(`pareto_front.png`), and one line per bridge that says what it costs and gives
against the most accurate bridge on this data, e.g.
"gap: 0.4 points below flatten at 1/12 of the parameters, 0.6x its latency".
Works on report.Trial records (bridge, param_count, latency_ms,
best_val_accuracy, finished).
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


def fronts_by_bridge(trials, cost):
    bridges = dict.fromkeys(t.bridge for t in trials if t.finished)
    return {bridge: front([t for t in trials if t.bridge == bridge], cost)
            for bridge in bridges}


def _ratio(value, reference):
    """'1/12 of' or '3.0x' (value against reference), for the verdict line."""
    if not value or not reference:
        return None
    if value < reference:
        return f"1/{reference / value:.0f} of" if reference / value >= 2 else \
            f"{value / reference:.2f}x"
    return f"{value / reference:.1f}x"


def best_row_per_bridge(trials):
    """{bridge: its best finished trial}, best bridge first."""
    best = {}
    for trial in trials:
        if trial.finished and (trial.bridge not in best or
                               trial.best_val_accuracy > best[trial.bridge].best_val_accuracy):
            best[trial.bridge] = trial
    return dict(sorted(best.items(), key=lambda item: -item[1].best_val_accuracy))


def verdict_lines(trials):
    """One line per bridge: its best trial against the most accurate bridge's."""
    best = best_row_per_bridge(trials)
    if not best:
        return []
    top = next(iter(best.values()))
    lines = [f"{top.bridge}: the most accurate bridge on this data, val accuracy "
             f"{top.best_val_accuracy:.4f} with {_count(top.param_count)} parameters"
             + (f", {top.latency_ms:.2f} ms per image" if top.latency_ms else "") + "."]
    for bridge, trial in sorted(best.items(), key=lambda item: -item[1].best_val_accuracy):
        if trial is top:
            continue
        points = (top.best_val_accuracy - trial.best_val_accuracy) * 100
        costs = [f"{ratio} the parameters" for ratio in
                 [_ratio(trial.param_count, top.param_count)] if ratio]
        costs += [f"{ratio} its latency" for ratio in
                  [_ratio(trial.latency_ms, top.latency_ms)] if ratio]
        lines.append(f"{bridge}: {points:.1f} points below {top.bridge} at "
                     f"{', '.join(costs) or 'an unknown cost'} (best val accuracy "
                     f"{trial.best_val_accuracy:.4f}, {_count(trial.param_count)} parameters).")
    return lines


def _count(value):
    return "-" if value is None else f"{int(value):,}"


def markdown_section(trials, table):
    """The report's trade-off section; `table(columns, rows)` formats a table."""
    lines = ["", "## Trade-off: Pareto front per bridge", ""]
    lines += [f"- {line}" for line in verdict_lines(trials)]
    for name, (cost, unit) in COSTS.items():
        rows = [(bridge, t.trial_id, _count(t.param_count),
                 "-" if t.latency_ms is None else f"{t.latency_ms:.2f}",
                 f"{t.best_val_accuracy:.4f}", t.run_id)
                for bridge, kept in fronts_by_bridge(trials, cost).items() for t in kept]
        lines += ["", f"### val accuracy against {unit}", "",
                  table(("bridge", "trial", "params", "ms/image", "best val_acc", "run id"),
                        rows)]
    return "\n".join(lines) + "\n"


def plot_fronts(trials, colours, path):
    """Two panels (parameters, latency): every finished trial, and each bridge's
    Pareto front as a step line."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter
    figure, panels = plt.subplots(1, 2, figsize=(11, 4.5))
    for axes, (cost, unit) in zip(panels, COSTS.values()):
        for bridge, kept in fronts_by_bridge(trials, cost).items():
            others = [t for t in trials if t.bridge == bridge and t.finished
                      and getattr(t, cost) is not None]
            axes.scatter([getattr(t, cost) for t in others],
                         [t.best_val_accuracy for t in others], color=colours[bridge],
                         alpha=0.4)
            if kept:
                axes.step([getattr(t, cost) for t in kept],
                          [t.best_val_accuracy for t in kept], where="post", marker="o",
                          color=colours[bridge], label=bridge)
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # crowded labels between decades
        axes.set(xlabel=unit, ylabel="best val_accuracy",
                 title=f"Pareto front per bridge: val_accuracy against {unit}")
        axes.grid(alpha=0.3)
        axes.legend(title="bridge", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
