"""BridgeHyperband: keras-tuner's Hyperband plus MLflow trial logging and progress.

The search loop is keras-tuner's own; we only hook into it:
- `on_trial_begin`: open the trial's child run (params, bracket/round tags).
- `fit_callbacks`: add callbacks that log each epoch and keep the best
  epoch's weights, and record the parameter count.
- `on_trial_end`: close the run with its summary metrics, best model and status,
  and print one progress line.
It also fixes optimizer state on Hyperband's continued trials (see `build_model`),
keeps local checkpoints within `--keep-checkpoints` (search/kt/checkpoints.py) and
releases what TensorFlow keeps of each trial's graphs (search/kt/resources.py).
"""

import json
import logging
import os
import time
from pathlib import Path

import keras

from search import tracking
from search.kt import checkpoints
from search.distributed import roles as distributed, shared_checkpoint
from search.tracking import resume
from search.kt import cost, compat as kt_compat, limits, training
from search.core.crashpoints import crash_point
from search.core.errors import last_line
from search.plan.hyperband import hyperband_plan, make_oracle, user_values
from search.kt.callbacks import DeadlineStop
from search.kt.device import apply_jit_compile
from search.kt.progress import Progress
from search.kt.callbacks import OBJECTIVE, BestEpochKeeper, EpochLogger, FailOnNaN, ResourceMonitor
from search.kt.resources import GraphJanitor

log = logging.getLogger(__name__)

INACTIVE = "n/a"  # param value of a conditional hyperparameter that does not apply
# A failed trial's traceback goes to this artifact of its run (keras-tuner's own
# printing of it is off: kt_compat.quiet_keras_tuner), its reason to one line.
FAILURE_ARTIFACT = "failure_traceback.txt"


class BridgeHyperband(kt_compat.HyperbandWithHooks):
    keras_tuner_checkpoints = False  # BestEpochKeeper's best model is the checkpoint

    def __init__(self, hypermodel, tracker, *, patience=3, jit_compile=False,
                 precision_policy="float32", lr_schedule="constant", max_epochs=100, factor=3,
                 hyperband_iterations=1, min_epochs=1, seed=None, keep_checkpoints=None,
                 log_models="all", model_limits=limits.Limits(), deadline=None, **kwargs):
        # Our oracle adds the first-round budget to Hyperband's (the same class
        # plan.py asks, so dry runs are exact).
        # A failed trial is recorded and the search goes on; keras-tuner's default
        # (stop with a RuntimeError after 3 consecutive failures) would end a long
        # search on a run of too-large models. A search with no completed trial
        # fails in the runner with a clear line instead.
        oracle = make_oracle(max_epochs, factor, hyperband_iterations, min_epochs,
                             objective=OBJECTIVE, seed=seed,
                             max_consecutive_failed_trials=None)
        super().__init__(oracle, hypermodel, **kwargs)
        # Models over --max-params / --max-latency-ms are drawn again, not trained
        # (on the local oracle: a worker's drawing is the chief's).
        # The space's own rule first: the limits build models, it only reads values.
        limits.install_space_rule(oracle, hypermodel)
        self.limit_checker = limits.install(oracle, self.hypermodel, model_limits)
        self.deadline = deadline  # --time-budget (search/plan/budget.py)
        if deadline is not None:
            self.oracle.may_start_trial = deadline.may_start_trial
        self.tracker = tracker
        self.patience = patience
        self.jit_compile = jit_compile
        self.precision_policy = precision_policy
        self.keep_checkpoints = keep_checkpoints  # None: keep every trial's checkpoint
        self.log_models = log_models
        self.lr_schedule = lr_schedule
        self._trial_state = {}  # trial_id -> run id, start time, callbacks, params
        # From the arguments, not self.oracle: on a distributed worker the oracle is
        # an OracleClient that exposes none of the Hyperband settings.
        plan = hyperband_plan(max_epochs, factor, hyperband_iterations, min_epochs)
        self.progress = Progress(total_trials=plan.total_trials,
                                 prefix=f"{self.tuner_id} " if distributed.role() else "")

    # ----- keras-tuner hooks ------------------------------------------------------
    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        values = trial.hyperparameters.values
        params = trial_params(trial.hyperparameters)
        tags = {tracking.TAG_BRACKET: values.get("tuner/bracket", ""),
                tracking.TAG_ROUND: values.get("tuner/round", ""),
                tracking.TAG_CONTINUES: values.get("tuner/trial_id", ""),
                "hyperband_epochs": values.get("tuner/epochs", ""),
                "hyperband_initial_epoch": values.get("tuner/initial_epoch", 0),
                "tuner_id": self.tuner_id}
        self._last_param_count = None  # a failed build must not report the last model's
        self._checkpoint_from = None  # set when the build loads a predecessor
        run_id = self.tracker.start_trial(trial.trial_id, params, tags)
        log.debug(f"trial {trial.trial_id} started: run {run_id}, {params}")
        self._trial_state[trial.trial_id] = {"run_id": run_id, "start": time.perf_counter(),
                                             "janitor": GraphJanitor()}

    def run_trial(self, trial, *args, **kwargs):
        # Deep-copyable callbacks only here: keras-tuner copies this list per execution.
        kwargs["callbacks"] = list(kwargs.get("callbacks", [])) + [
            keras.callbacks.EarlyStopping(monitor=OBJECTIVE, patience=self.patience,
                                          mode="max"), FailOnNaN(),
            *training.schedule_callbacks(self.lr_schedule, trial.hyperparameters),
            *([DeadlineStop(self.deadline)] if self.deadline is not None else [])]
        return super().run_trial(trial, *args, **kwargs)

    def fit_callbacks(self, trial):
        state = self._trial_state[trial.trial_id]
        state["model_path"] = self.best_model_path(trial.trial_id)
        state["keeper"] = BestEpochKeeper(state["model_path"])
        state["logger"] = EpochLogger(self.tracker, state["run_id"], os.path.join(
            self.get_trial_dir(trial.trial_id), resume.JOURNAL_FILE))
        state["monitor"] = ResourceMonitor()
        return [state["monitor"], state["logger"], state["keeper"]]

    def on_model_built(self, model):
        self._last_param_count = model.count_params()

    def build_model(self, hp):
        # keras-tuner clears the Keras session before each build, which also resets
        # the global dtype policy: set it again for every model.
        keras.mixed_precision.set_global_policy(self.precision_policy)
        # The plain build on purpose: `_load_predecessor` replaces Hyperband's loading.
        model = self.plain_build(hp)  # under the strategy scope
        apply_jit_compile(model, self.jit_compile)
        if "tuner/trial_id" in hp.values:
            self._load_predecessor(model, hp.values["tuner/trial_id"])
        return model

    def build_fresh(self, hp):
        """A new, untrained model of `hp` with this search's precision policy, XLA
        setting and distribution strategy (for the winner's final training)."""
        keras.mixed_precision.set_global_policy(self.precision_policy)
        with kt_compat.distribution_scope(self.distribution_strategy):
            model = self.hypermodel.build(hp)
        apply_jit_compile(model, self.jit_compile)
        return model

    def _load_predecessor(self, model, trial_id):
        """Continue a Hyperband trial from its predecessor's best model.

        The .keras file holds the optimizer variables too, but under Keras 3 they
        are skipped unless the optimizer is built first ("Skipping variable loading
        for optimizer"), which silently resets Adam's moments and iteration count.
        """
        if not model.built:  # subclassed user models: build as keras-tuner does
            model.build_from_config(json.loads(
                Path(kt_compat.build_config_path(self, trial_id)).read_text()))
        with kt_compat.distribution_scope(self.distribution_strategy):
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            self._checkpoint_from = self._load_weights_of(model, trial_id)

    def _load_weights_of(self, model, trial_id):
        """From this project dir, else (another host trained it) from its MLflow run."""
        checkpoint = self.best_model_path(trial_id)
        if os.path.exists(checkpoint):
            model.load_weights(checkpoint)
            return "local"
        return "mlflow:" + shared_checkpoint.load_predecessor_weights(model, self.tracker,
                                                                      trial_id)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # the oracle records status and score first
        crash_point("trial_end")  # tests: killed before MLflow hears of it
        state = self._trial_state.pop(trial.trial_id)
        keeper, logger = state.get("keeper"), state.get("logger")
        wall = time.perf_counter() - state["start"]
        completed = trial.status == "COMPLETED"
        metrics = {"wall_seconds": wall,
                   "epochs_trained": logger.epochs_logged if logger else 0,
                   "param_count": getattr(self, "_last_param_count", None) if logger else None}
        if keeper is not None and keeper.best_epoch is not None:
            metrics.update({"best_epoch": keeper.best_epoch,
                            "best_val_accuracy": keeper.best_value,
                            "best_val_loss": keeper.best_logs.get("val_loss")})
        if state.get("monitor") is not None:
            metrics.update(state["monitor"].metrics())
        model_path = state.get("model_path") if completed else None
        if model_path and not os.path.exists(model_path):
            model_path = None
        if model_path and keeper.model is not None:  # the best epoch's model, restored
            metrics.update(cost.model_cost(keeper.model, model_path))
        if not self._logs_model(trial):
            model_path = None
        metrics.update(self._prune_checkpoints(spare={trial.trial_id}))
        tags = {tracking.TAG_STATUS: trial.status}
        if getattr(self, "_checkpoint_from", None):
            tags[shared_checkpoint.TAG_CHECKPOINT_FROM] = self._checkpoint_from
        if not completed:
            tags[tracking.TAG_FAILURE] = last_line(trial.message)
            log.warning(f"trial {trial.trial_id} failed: {tags[tracking.TAG_FAILURE]}")
            self.tracker.log_text(state["run_id"], trial.message or "", FAILURE_ARTIFACT)
        self.tracker.end_trial(state["run_id"], metrics, tags,
                               tracking.finished_status(trial.status), model_path)
        self._prune_checkpoints()  # this trial's too, now that MLflow has its model
        state["janitor"].release()  # else each trial's graphs stay in memory
        best = self.oracle.get_best_trials(1)
        score = keeper.best_value if completed and keeper and keeper.best_epoch else None
        self.progress.trial_done(trial, score, best[0].score if best else None)

    def best_model_path(self, trial_id):
        return os.path.join(self.get_trial_dir(trial_id), checkpoints.BEST_MODEL_FILE)

    def _logs_model(self, trial):
        if self.log_models == "best":  # only trials that beat every earlier one
            best = self.oracle.get_best_trials(1)
            return bool(best) and best[0].trial_id == trial.trial_id
        return self.log_models != "none"

    def _prune_checkpoints(self, spare=()):
        """Apply the checkpoint budget; return the disk figures to log."""
        if self.keep_checkpoints is None or checkpoints.still_needed(self.oracle) is None:
            return {}
        checkpoints.prune(self, self.keep_checkpoints, spare)
        return {"project_dir_mb": checkpoints.disk_usage_mb(self.project_dir),
                "trials_with_checkpoints": checkpoints.trials_with_checkpoints(self)}


def trial_params(hp):
    """A trial's hyperparameters as MLflow params. keras-tuner leaves inactive
    conditional ones (flatten_pool when bridge != flatten) out of `hp.values`; they
    are logged as INACTIVE so every trial has the same param names and MLflow's
    compare and parallel-coordinates views line up without setup."""
    params = {p.name: hp.values.get(p.name, INACTIVE) for p in hp.space}
    params.update({k: v for k, v in hp.values.items() if k not in params})
    return user_values(params)
