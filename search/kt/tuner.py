"""BridgeHyperband: keras-tuner's Hyperband with trial hooks.

The search loop is keras-tuner's own. Around each trial this tuner keeps the
best epoch's model (the trial's checkpoint), measures the trial once into a
`TrialReport` (search/kt/hooks.py) and hands it to its hooks: the MLflow trial
logger, the checkpoint budget, graph release and the progress line are hooks
the caller adds, so the tuner runs without any of them. It also fixes optimizer
state on Hyperband's continued trials (see `build_model`).
"""

import json
import logging
import os
import time
from pathlib import Path

import keras

from search.core.crashpoints import crash_point
from search.core.errors import last_line
from search.kt import checkpoints, compat as kt_compat, cost, training
from search.kt.callbacks import OBJECTIVE, BestEpochKeeper, DeadlineStop, FailOnNaN, ResourceMonitor
from search.kt.device import apply_jit_compile
from search.kt.hooks import TrialReport

log = logging.getLogger(__name__)

# On a continued trial: where its predecessor's weights came from ("local" or
# "mlflow:RUN_ID").
TAG_CHECKPOINT_FROM = "checkpoint_from"
TAG_DEVICE = "device"  # the device a trial's weights were placed on


class BridgeHyperband(kt_compat.HyperbandWithHooks):
    """`oracle`: from search/kt/oracle.py (search_oracle). `fetch_predecessor(model,
    trial_id)`: loads the weights of a trial another host trained (distributed
    mode) and says where from; None: only this project dir's checkpoints."""

    keras_tuner_checkpoints = False  # BestEpochKeeper's best model is the checkpoint

    def __init__(self, oracle, hypermodel, *, patience=3, jit_compile=False,
                 precision_policy="float32", lr_schedule="constant", deadline=None,
                 hooks=(), fetch_predecessor=None, **kwargs):
        super().__init__(oracle, hypermodel, **kwargs)
        self.deadline = deadline  # --time-budget (search/plan/budget.py)
        if deadline is not None:
            self.oracle.may_start_trial = deadline.may_start_trial
        self.patience = patience
        self.jit_compile = jit_compile
        self.precision_policy = precision_policy
        self.lr_schedule = lr_schedule
        self.hooks = list(hooks)
        self.fetch_predecessor = fetch_predecessor
        self._trial_state = {}  # trial_id -> start time, callbacks

    # ----- keras-tuner hooks ------------------------------------------------------
    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._last_param_count = None  # a failed build must not report the last model's
        self._checkpoint_from = None  # set when the build loads a predecessor
        self._trial_state[trial.trial_id] = {"start": time.perf_counter()}
        for hook in self.hooks:
            hook.trial_begin(trial)

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
        state["monitor"] = ResourceMonitor()
        hooked = [callback for hook in self.hooks for callback in hook.fit_callbacks(trial)]
        return [state["monitor"], *hooked, state["keeper"]]

    def on_model_built(self, model):
        self._last_param_count = model.count_params()
        # where the weights live (scripts/gpu_check.py: nothing fell back to the CPU)
        weights = model.trainable_variables
        self._last_device = getattr(getattr(weights[0], "value", None), "device", "") \
            if weights else ""

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
        """From this project dir, else (another host trained it) fetch_predecessor."""
        checkpoint = self.best_model_path(trial_id)
        if os.path.exists(checkpoint) or self.fetch_predecessor is None:
            model.load_weights(checkpoint)
            return "local"
        return self.fetch_predecessor(model, trial_id)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # the oracle records status and score first
        crash_point("trial_end")  # tests: killed before MLflow hears of it
        report = self._measure(trial, self._trial_state.pop(trial.trial_id))
        for hook in self.hooks:
            hook.trial_end(report)
        for hook in self.hooks:
            hook.trial_closed(report)

    def _measure(self, trial, state):
        """The trial's TrialReport: what every hook is given."""
        keeper = state.get("keeper")  # None: the build failed before fit
        completed = trial.status == "COMPLETED"
        metrics = {"wall_seconds": time.perf_counter() - state["start"],
                   "epochs_trained": keeper.epochs_seen if keeper else 0,
                   "param_count": self._last_param_count if keeper else None}
        trained = keeper is not None and keeper.best_epoch is not None
        if trained:
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
        best = self.oracle.get_best_trials(1)
        return TrialReport(
            trial=trial, status=trial.status, metrics=metrics, model_path=model_path,
            tags={TAG_DEVICE: getattr(self, "_last_device", "") if keeper else "",
                  **({TAG_CHECKPOINT_FROM: self._checkpoint_from} if self._checkpoint_from
                     else {})},
            score=keeper.best_value if completed and trained else None,
            best_score=best[0].score if best else None,
            is_best=bool(best) and best[0].trial_id == trial.trial_id,
            failure=None if completed else last_line(trial.message))

    def best_model_path(self, trial_id):
        return os.path.join(self.get_trial_dir(trial_id), checkpoints.BEST_MODEL_FILE)
