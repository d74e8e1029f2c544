"""`run --dry-run`: the Hyperband plan and its estimated time without searching;
with --time-budget, the plan the budget picks (search/plan/budget.py), found by
the search's own steps."""

import time

from search import data as data_module
from search.kt import compat as kt_compat, space_check
from search.kt.device import configure_devices
from search.kt.progress import format_seconds
from search.plan import budget, dry_run
from search.plan.hyperband import format_plan, hyperband_plan

BUDGET_DRY_RUN_NOTE = ("Dry run: times the first models the search will draw, as a "
                       "--time-budget search does, to pick its plan; nothing is searched or "
                       "logged to MLflow.")


def show_plan(config, out=print, started=None):
    """The dry run the options ask for: the budget's plan, or the given settings'."""
    if config.time_budget:
        return budget_dry_run(config, out, started)
    return dry_run.dry_run(config, out)


def budget_dry_run(config, out, started=None):
    """--time-budget: the plan the search will pick, by the search's own steps (it
    times the first draws, keeps the final training's reserve, picks the plan);
    a budget too short is the search's own exit 2."""
    kt_compat.quiet_keras_tuner()
    out(BUDGET_DRY_RUN_NOTE)
    configure_devices(config)
    image_data = data_module.load_from_config(config)
    hypermodel = space_check.load_checked_space(config.space, image_data)
    dry_run.check_limits(config, hypermodel)  # as the search does, naming the space
    chosen = budget.plan_within_budget(
        config, image_data, hypermodel, time.perf_counter() if started is None else started)
    deadline, params = chosen.deadline, dict(chosen.budget_params)
    plan = hyperband_plan(chosen.max_epochs, chosen.factor, chosen.hyperband_iterations,
                          chosen.min_epochs)
    out(f"Time budget {config.time_budget}: Hyperband plan: max_epochs {chosen.max_epochs}, "
        f"min_epochs {chosen.min_epochs}, factor {chosen.factor}, "
        f"{chosen.hyperband_iterations} iteration(s) (these replace --max-epochs, --factor "
        f"and --hyperband-iterations)")
    out(format_plan(plan))
    cap = params["budget_retrain_cap"]
    out(f"Estimated search time {format_seconds(params['budget_estimated_search_seconds'])}, "
        f"{format_seconds(params['budget_reserve_seconds'])} kept for the final training "
        f"and export" + ("" if cap == "none" else f" (final training cut to {cap} epochs)")
        + f"; {params['budget_timed_epoch_seconds']:.2f} s per epoch timed on "
        f"{params['budget_timed_models']} drawn model(s)"
        + (f"; room for one trial: {deadline.first_trial_values}"
           if deadline.first_trial_values else "") + ".")
    return {"total_trials": plan.total_trials, "total_epochs": plan.total_epochs,
            "max_epochs": chosen.max_epochs, "factor": chosen.factor,
            "hyperband_iterations": chosen.hyperband_iterations, **params}
