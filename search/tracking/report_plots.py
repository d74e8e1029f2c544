"""The report's plots: val_accuracy per epoch, best val_accuracy against parameters,
and how Hyperband spent its budget, each coloured by the value of the space's
question (the bridge, for the default space; `label` names it), files only."""


def colours_by_group(trials):
    """One fixed colour per group, the same in every plot of a report."""
    from matplotlib import colormaps
    palette = colormaps["tab10"].colors
    groups = sorted({t.group for t in trials}, key=str)
    return {group: palette[i % len(palette)] for i, group in enumerate(groups)}


def _legend_by_group(axes, colours, trials, label):
    from matplotlib.lines import Line2D
    present = [g for g in colours if any(t.group == g for t in trials)]
    axes.legend([Line2D([], [], color=colours[g], marker="o") for g in present], present,
                title=label, fontsize="small")


def plot_curves(trials, colours, path, label):
    """val_accuracy against epoch, one line per trial, coloured by group. A
    continued Hyperband trial starts where its predecessor stopped (steps go on)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    figure, axes = plt.subplots(figsize=(7, 4.5))
    last_point = {t.trial_id: t.history[-1] for t in trials if t.history}
    for trial in trials:
        if trial.history and trial.continues in last_point:  # dotted: continued from
            (x0, y0), (x1, y1) = last_point[trial.continues], trial.history[0]
            axes.plot([x0, x1], [y0, y1], linestyle=":", color=colours[trial.group])
        if trial.history:
            epochs, values = zip(*trial.history)
            axes.plot(epochs, values, marker="o", markersize=3, alpha=0.8,
                      color=colours[trial.group])
            axes.annotate(trial.trial_id, (epochs[-1], values[-1]), fontsize=6)
    axes.set(xlabel="epoch", ylabel="val_accuracy", title="val_accuracy per trial "
             "(dotted: Hyperband continues a trial)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    _legend_by_group(axes, colours, trials, label)
    _save(figure, path)


def plot_accuracy_vs_params(trials, colours, path, best_per_group, label):
    """Best val_accuracy against parameter count; each group's best (given, as
    {group: trial}) is ringed."""
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4.5))
    finished = [t for t in trials if t.finished and t.param_count]
    for trial in finished:
        axes.scatter(trial.param_count, trial.best_val_accuracy, color=colours[trial.group],
                     alpha=0.7)
    for group, best in best_per_group.items():
        axes.scatter(best.param_count, best.best_val_accuracy, s=160, facecolors="none",
                     edgecolors=colours[group], linewidths=2)
        axes.annotate(f"best {group}", (best.param_count, best.best_val_accuracy),
                      textcoords="offset points", xytext=(6, 6), fontsize=8)
    if finished:
        axes.set_xscale("log")
    axes.set(xlabel="parameters", ylabel="best val_accuracy",
             title="best val_accuracy against model size")
    axes.grid(alpha=0.3)
    _legend_by_group(axes, colours, finished, label)
    _save(figure, path)


def plot_brackets(trials, colours, path, label):
    """Hyperband's shape: trials per (bracket, round), stacked by group."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    slots = sorted({(t.bracket, t.round) for t in trials},
                   key=lambda s: (-_int(s[0]), _int(s[1])))
    figure, axes = plt.subplots(figsize=(max(5, 0.8 * len(slots) + 2), 4.5))
    bottoms = [0] * len(slots)
    for group, colour in colours.items():
        counts = [sum(t.group == group and (t.bracket, t.round) == s for t in trials)
                  for s in slots]
        if any(counts):
            axes.bar(range(len(slots)), counts, bottom=bottoms, color=colour, label=group)
            bottoms = [b + c for b, c in zip(bottoms, counts)]
    axes.set_xticks(range(len(slots)), [f"bracket {b}\nround {r}" for b, r in slots],
                    fontsize=7)
    axes.set(ylabel="trials", title="Hyperband: trials per bracket and round")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(title=label, fontsize="small")
    _save(figure, path)


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return -1


def _save(figure, path):
    import matplotlib.pyplot as plt
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
