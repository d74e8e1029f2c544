"""BridgeHyperband: keras-tuner's Hyperband plus MLflow trial logging and progress.

The search loop is keras-tuner's own; we only hook into it:
- `on_trial_begin`: open the trial's child run (params, bracket/round tags).
- `_build_and_fit_model`: add callbacks that log each epoch and keep the best
  epoch's weights, and record the parameter count.
- `on_trial_end`: close the run with its summary metrics, best model and status,
  and print one progress line.
It also fixes optimizer state on Hyperband's continued trials (see `_build_hypermodel`).
"""

import json
import os
import time
from pathlib import Path

import keras
import keras_tuner

from search import distributed, tracking, training
from search.plan import hyperband_plan
from search.progress import Progress

OBJECTIVE = "val_accuracy"
HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round",
                  "tuner/trial_id")


class EpochLogger(keras.callbacks.Callback):
    """Sends each epoch's metrics to the trial's child run (step = epoch number,
    counted from 1 and continuing across Hyperband rounds)."""

    def __init__(self, tracker, run_id):
        super().__init__()
        self.tracker, self.run_id = tracker, run_id
        self.epochs_logged = 0

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.log_epoch(self.run_id, epoch + 1, logs or {})
        self.epochs_logged += 1


class BestEpochKeeper(keras.callbacks.Callback):
    """Keeps the weights of the best epoch (by val_accuracy) in memory and, when
    training ends, saves that model as a .keras file: the trial's best model."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.best_value, self.best_epoch, self.best_logs = -float("inf"), None, {}
        self._best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(OBJECTIVE)
        if value is not None and value > self.best_value:
            self.best_value, self.best_epoch, self.best_logs = value, epoch + 1, dict(logs)
            self._best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
            self.model.save(self.path)
            self._best_weights = None  # do not hold a copy of the model past the trial


class BridgeHyperband(keras_tuner.Hyperband):
    def __init__(self, hypermodel, tracker, *, patience=3, jit_compile=False,
                 precision_policy="float32", lr_schedule="constant", **kwargs):
        super().__init__(hypermodel, objective=OBJECTIVE, **kwargs)
        self.tracker = tracker
        self.patience = patience
        self.jit_compile = jit_compile
        self.precision_policy = precision_policy
        self.lr_schedule = lr_schedule
        self._trial_state = {}  # trial_id -> run id, start time, callbacks, params
        # From the arguments, not self.oracle: on a distributed worker the oracle is
        # an OracleClient that exposes none of the Hyperband settings.
        plan = hyperband_plan(kwargs.get("max_epochs", 100), kwargs.get("factor", 3),
                              kwargs.get("hyperband_iterations", 1))
        self.progress = Progress(total_trials=plan.total_trials,
                                 prefix=f"{self.tuner_id} " if distributed.role() else "")

    # ----- keras-tuner hooks ------------------------------------------------------
    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        values = trial.hyperparameters.values
        params = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        tags = {tracking.TAG_BRACKET: values.get("tuner/bracket", ""),
                tracking.TAG_ROUND: values.get("tuner/round", ""),
                tracking.TAG_CONTINUES: values.get("tuner/trial_id", ""),
                "hyperband_epochs": values.get("tuner/epochs", ""),
                "hyperband_initial_epoch": values.get("tuner/initial_epoch", 0),
                "tuner_id": self.tuner_id}
        run_id = self.tracker.start_trial(trial.trial_id, params, tags)
        self._trial_state[trial.trial_id] = {"run_id": run_id, "start": time.perf_counter()}

    def run_trial(self, trial, *args, **kwargs):
        # Deep-copyable callbacks only here: keras-tuner copies this list per execution.
        kwargs["callbacks"] = list(kwargs.get("callbacks", [])) + [
            keras.callbacks.EarlyStopping(monitor=OBJECTIVE, patience=self.patience,
                                          mode="max"),
            *training.schedule_callbacks(self.lr_schedule, trial.hyperparameters)]
        return super().run_trial(trial, *args, **kwargs)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        state = self._trial_state[trial.trial_id]
        state["model_path"] = os.path.join(self.get_trial_dir(trial.trial_id), "best_model.keras")
        state["keeper"] = BestEpochKeeper(state["model_path"])
        state["logger"] = EpochLogger(self.tracker, state["run_id"])
        kwargs["callbacks"] = kwargs["callbacks"] + [state["logger"], state["keeper"]]
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def _try_build(self, hp):
        model = super()._try_build(hp)
        self._last_param_count = model.count_params()
        return model

    def _build_hypermodel(self, hp):
        # keras-tuner clears the Keras session before each build, which also resets
        # the global dtype policy: set it again for every model.
        keras.mixed_precision.set_global_policy(self.precision_policy)
        # Skips Hyperband's own override on purpose: `_load_predecessor` replaces it.
        model = keras_tuner.Tuner._build_hypermodel(self, hp)  # under the strategy scope
        if self.jit_compile:
            model.jit_compile = True
        if "tuner/trial_id" in hp.values:
            self._load_predecessor(model, hp.values["tuner/trial_id"])
        return model

    def build_fresh(self, hp):
        """A new, untrained model of `hp` with this search's precision policy, XLA
        setting and distribution strategy (for the winner's final training)."""
        keras.mixed_precision.set_global_policy(self.precision_policy)
        with keras_tuner.engine.tuner.maybe_distribute(self.distribution_strategy):
            model = self.hypermodel.build(hp)
        if self.jit_compile:
            model.jit_compile = True
        return model

    def _load_predecessor(self, model, trial_id):
        """Continue a Hyperband trial from its predecessor's best checkpoint.

        The checkpoint holds the optimizer variables too, but under Keras 3 they
        are skipped unless the optimizer is built first ("Skipping variable loading
        for optimizer"), which silently resets Adam's moments and iteration count.
        """
        if not model.built:  # subclassed user models: build as keras-tuner does
            model.build_from_config(json.loads(
                Path(self._get_build_config_fname(trial_id)).read_text()))
        with keras_tuner.engine.tuner.maybe_distribute(self.distribution_strategy):
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(self._get_checkpoint_fname(trial_id))

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # the oracle records status and score first
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
        model_path = state.get("model_path") if completed else None
        if model_path and not os.path.exists(model_path):
            model_path = None
        tags = {tracking.TAG_STATUS: trial.status}
        if not completed:
            tags[tracking.TAG_FAILURE] = _last_line(trial.message)
        self.tracker.end_trial(state["run_id"], metrics, tags,
                               tracking.finished_status(trial.status), model_path)
        best = self.oracle.get_best_trials(1)
        score = keeper.best_value if completed and keeper and keeper.best_epoch else None
        self.progress.trial_done(trial, score, best[0].score if best else None)


def _last_line(message):
    lines = [line for line in (message or "unknown error").strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "unknown error"
