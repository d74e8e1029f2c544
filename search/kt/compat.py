"""The one module that touches keras-tuner's private parts.

keras-tuner's public API runs a search; extending Hyperband (our own oracle,
fixing how a continued trial loads its predecessor, extra callbacks per trial)
needs names it does not promise to keep. Every such name is used here and only
here; the rest of bridge-search calls the functions and the base class below.
tests/search/test_kt_compat.py checks each name in `PRIVATE_NAMES` against the
installed keras-tuner and names the one that changed; setup.cfg pins keras-tuner
to `TESTED_RANGE`.

Private names touched, and why:
- `keras_tuner.src.config.DEBUG`: set to False when a search starts, so a failed
  trial's traceback goes to its MLflow run, not to the user's terminal.
- `keras_tuner.src.distribute.utils.has_chief_oracle`, `.is_chief_oracle`: the
  chief/worker role from keras-tuner's own environment variables.
- `keras_tuner.engine.tuner.maybe_distribute`: builds and loads a model under the
  search's distribution strategy, as keras-tuner does.
- `keras_tuner.Tuner.__init__`: called past `Hyperband.__init__`, which only
  builds a stock HyperbandOracle; ours brings its own oracle.
- `keras_tuner.Tuner._build_hypermodel`: the plain build (strategy scope, compile
  overrides), skipping Hyperband's override, which loads a predecessor's weights
  but not its optimizer state.
- `keras_tuner.Tuner._build_and_fit_model`: where per-trial callbacks that must
  not be deep-copied (they hold the MLflow tracker) join the fit.
- `keras_tuner.Tuner._try_build`: reports each successfully built model.
- `keras_tuner.src.engine.tuner_utils.SaveBestEpoch`: the callback `run_trial`
  adds to save the weights at every improving epoch; left out of the fit when the
  subclass saves the trial's best model itself (one save a trial, not two or more).
- `keras_tuner.Tuner._get_checkpoint_fname`: keras-tuner's weights file, which
  the checkpoint budget deletes (written when `SaveBestEpoch` is kept).
- `keras_tuner.Tuner._get_build_config_fname`: the build config a continued
  trial's subclassed model is built from before its weights load.
- `keras_tuner.oracles.HyperbandOracle.min_epochs`: bounds the number of brackets.
- `keras_tuner.oracles.HyperbandOracle._get_num_brackets`, `._get_num_rounds`,
  `._get_epochs`, `._get_size`: the schedule, asked rather than re-derived.
- `keras_tuner.oracles.HyperbandOracle._random_values`: where a new bracket's first
  round draws its values; `--warm-start` hands out given values there first,
  `--sampler bohb` proposes from its model there, the draws over --max-params /
  --max-latency-ms are drawn again there (search/kt/limits.py); the dry run
  replays a search's draws with it. `._duplicate`: values tried before.
- `keras_tuner.oracles.HyperbandOracle._current_bracket`, `._brackets`,
  `._start_new_bracket`: the open brackets (`{"bracket_num", "rounds": [[{"id",
  "past_id"}]]}`): restarted after raising min_epochs, read to know which
  checkpoints a later round may still load.
- `keras_tuner.oracles.HyperbandOracle._retry_queue`: where `Oracle.reload` puts
  every trial the dead chief listed as ongoing; a restarted chief takes back
  those its workers still hold or that had ended (search/distributed/chief_oracle.py).
- `keras_tuner.src.distribute.oracle_client.TIMEOUT`: the deadline of a worker's
  every request (an hour); set per request to what is left of --chief-timeout.
"""

import contextlib
import io
import warnings

import keras_tuner

from search.kt import kt_prints

TESTED_RANGE = ">=1.4.7,<1.5"

# Dotted name -> the signature it had on the tested releases (None: an attribute).
PRIVATE_NAMES = {
    "keras_tuner.src.config.DEBUG": None,
    "keras_tuner.src.distribute.utils.has_chief_oracle": "()",
    "keras_tuner.src.distribute.utils.is_chief_oracle": "()",
    "keras_tuner.engine.tuner.maybe_distribute": "(distribution_strategy)",
    "keras_tuner.Tuner.__init__": (
        "(self, oracle, hypermodel=None, max_model_size=None, optimizer=None, loss=None, "
        "metrics=None, distribution_strategy=None, directory=None, project_name=None, "
        "logger=None, tuner_id=None, overwrite=False, executions_per_trial=1, **kwargs)"),
    "keras_tuner.Tuner._build_hypermodel": "(self, hp)",
    "keras_tuner.Tuner._build_and_fit_model": "(self, trial, *args, **kwargs)",
    "keras_tuner.Tuner._try_build": "(self, hp)",
    "keras_tuner.src.engine.tuner_utils.SaveBestEpoch": "(objective, filepath)",
    "keras_tuner.Tuner._get_checkpoint_fname": "(self, trial_id)",
    "keras_tuner.Tuner._get_build_config_fname": "(self, trial_id)",
    "keras_tuner.oracles.HyperbandOracle.min_epochs": None,
    "keras_tuner.oracles.HyperbandOracle._get_num_brackets": "(self)",
    "keras_tuner.oracles.HyperbandOracle._get_num_rounds": "(self, bracket_num)",
    "keras_tuner.oracles.HyperbandOracle._get_epochs": "(self, bracket_num, round_num)",
    "keras_tuner.oracles.HyperbandOracle._get_size": "(self, bracket_num, round_num)",
    "keras_tuner.oracles.HyperbandOracle._current_bracket": None,
    "keras_tuner.oracles.HyperbandOracle._brackets": None,
    "keras_tuner.oracles.HyperbandOracle._start_new_bracket": "(self)",
    "keras_tuner.oracles.HyperbandOracle._random_values": "(self)",
    "keras_tuner.oracles.HyperbandOracle._duplicate": "(self, values)",
    "keras_tuner.oracles.HyperbandOracle._retry_queue": None,
    "keras_tuner.src.distribute.oracle_client.TIMEOUT": None,
}


def quiet_keras_tuner():
    """Called when a search starts (not at import): keras-tuner's and Keras'
    per-trial noise goes to the MLflow runs instead of the terminal."""
    from keras_tuner.src import config
    config.DEBUG = False  # else every failed trial prints its whole traceback
    # keras-tuner passes shuffle=True to fit; our tf.data pipelines shuffle
    # already, and Keras would warn about it once per trial.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    kt_prints.parent_condition_quiet()


# ----- distributed roles --------------------------------------------------------
def has_chief_oracle():
    from keras_tuner.src.distribute import utils
    return utils.has_chief_oracle()


def is_chief_oracle():
    from keras_tuner.src.distribute import utils
    return utils.is_chief_oracle()


def take_back_from_retry_queue(oracle, trial_id):
    """Remove the one copy of `trial_id` that `Oracle.reload` queued for retry."""
    if trial_id in oracle._retry_queue:
        oracle._retry_queue.remove(trial_id)


def set_worker_request_timeout(seconds):
    """The deadline of the next request a worker's OracleClient sends."""
    from keras_tuner.src.distribute import oracle_client
    oracle_client.TIMEOUT = seconds


def distribution_scope(strategy):
    """A context manager: `strategy.scope()`, or nothing when it is None."""
    return keras_tuner.engine.tuner.maybe_distribute(strategy)


# ----- the tuner ------------------------------------------------------------------
class HyperbandWithHooks(keras_tuner.Hyperband):
    """keras-tuner's Hyperband tuner, driven by an oracle we pass in, with its
    private extension points turned into three hooks a subclass overrides."""

    # False: keras-tuner's per-best-epoch weights file (`checkpoint_path`) is not
    # written; the subclass saves each trial's best model and loads continued
    # trials from it.
    keras_tuner_checkpoints = True

    def __init__(self, oracle, hypermodel, **kwargs):
        # A resumed search: keras-tuner prints "Reloading Tuner from .../tuner0.json"
        # to stdout; the progress line says it in the tool's words instead.
        with contextlib.redirect_stdout(io.StringIO()):
            keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)

    def fit_callbacks(self, trial):
        """Callbacks added to this trial's fit without being deep-copied."""
        return []

    def build_model(self, hp):
        """The trial's model, ready to fit. Default: keras-tuner's Hyperband build,
        which loads a continued trial's predecessor from `checkpoint_path`."""
        return keras_tuner.Hyperband._build_hypermodel(self, hp)

    def on_model_built(self, model):
        """Called with each model that built and passed keras-tuner's checks."""

    def plain_build(self, hp):
        """Build under the strategy scope, without Hyperband's predecessor loading."""
        return keras_tuner.Tuner._build_hypermodel(self, hp)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        callbacks = list(kwargs.get("callbacks", []))
        if not self.keras_tuner_checkpoints:
            from keras_tuner.src.engine import tuner_utils
            callbacks = [c for c in callbacks if not isinstance(c, tuner_utils.SaveBestEpoch)]
        kwargs["callbacks"] = callbacks + self.fit_callbacks(trial)
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def _build_hypermodel(self, hp):
        return self.build_model(hp)

    def _try_build(self, hp):
        model = super()._try_build(hp)
        self.on_model_built(model)
        return model


def checkpoint_path(tuner, trial_id):
    """The weights file keras-tuner saves at a trial's best epoch."""
    return tuner._get_checkpoint_fname(trial_id)


def build_config_path(tuner, trial_id):
    """The build config keras-tuner saves beside it (for subclassed models)."""
    return tuner._get_build_config_fname(trial_id)


# ----- the Hyperband oracle's schedule and state ----------------------------------
def num_brackets(oracle):
    return oracle._get_num_brackets()


def num_rounds(oracle, bracket):
    return oracle._get_num_rounds(bracket)


def round_epochs(oracle, bracket, round_num):
    """Cumulative epochs a model has after this round."""
    return oracle._get_epochs(bracket, round_num)


def round_size(oracle, bracket, round_num):
    """Trials in this round."""
    return oracle._get_size(bracket, round_num)


def apply_min_epochs(oracle, min_epochs):
    """Give a new oracle a minimum first-round budget. HyperbandOracle's
    `__init__` already opened its first bracket with min_epochs=1: redo it."""
    oracle.min_epochs = min_epochs
    oracle._current_bracket = num_brackets(oracle) - 1
    oracle._brackets = []
    oracle._start_new_bracket()


def open_brackets(oracle):
    """[(bracket_num, rounds)] of the brackets in progress, each round a list of
    {"id", "past_id"}; None when this oracle does not say (a distributed worker's
    OracleClient)."""
    brackets = getattr(oracle, "_brackets", None)
    if brackets is None:
        return None
    return [(bracket["bracket_num"], bracket["rounds"]) for bracket in brackets]


def draw_values(oracle):
    """The values the oracle's next new trial would take (the dry run replays a
    search's draws to time its models)."""
    return oracle._random_values()


def replace_draw(oracle, make_draw):
    """The oracle's new trials' values come from make_draw(its current draw)."""
    oracle._random_values = make_draw(oracle._random_values)


def tried_before(oracle, values):
    return oracle._duplicate(values)


def filter_random_draws(oracle, accept, max_draws, keep_queued=False, repair=None):
    """Make `oracle` draw new trials' values again while `accept(values)` is
    False, at most `max_draws` times in a row; then `repair(last values drawn)`
    gives the values, or without `repair` none (as when the space is exhausted:
    Hyperband finishes its open rounds and stops).
    keep_queued: values queued on the oracle (QueuedValuesMixin: --warm-start)
    were chosen, not drawn, and pass unfiltered."""
    draw = oracle._random_values

    def draw_accepted():
        if keep_queued and getattr(oracle, "queued_values", None):
            return draw()
        values = None
        for _ in range(max_draws):
            values = draw()
            if values is None or accept(values):
                return values
        return None if repair is None or values is None else repair(values)

    oracle._random_values = draw_accepted


# ----- stopping the search and seeding its first trials ---------------------------
def stopped_trial(oracle):
    """A trial whose STOPPED status makes keras-tuner's search loop end cleanly."""
    from keras_tuner.engine import trial as trial_module
    return trial_module.Trial(oracle.get_space(), status=trial_module.TrialStatus.STOPPED)
