"""`--sampler bohb` (issue 26 item 1): Hyperband's new configurations come from a
density model of the finished trials once a budget has enough of them, at random
before; seeded, so the same trials and seed give the same draws; and a tiny real
search with it logs the sampler and the draws its model made."""

import json
import textwrap

import keras_tuner
import numpy as np
import pytest

from search.core.config import SearchConfig
from search.core.errors import UsageError
from search.kt import sampler
from search.kt.oracle import make_oracle
from tests.conftest import run_cli_here


def _space():
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    hps.Choice("kind", ["a", "b", "c"])
    hps.Int("n", 1, 5)
    return hps


def _score(values):
    """A known answer: high x, kind b and n 4 are best."""
    return values["x"] + (values["kind"] == "b") - 0.2 * abs(values["n"] - 4)


def _oracle_with_trials(count, seed=0, budget=1):
    """A real HyperbandOracle holding `count` completed trials of random values."""
    oracle = make_oracle(3, 3, seed=seed)
    oracle.update_space(_space())
    rng = np.random.default_rng(seed)
    for number in range(count):
        hps = _space()
        hps.values.update({"x": float(rng.random()), "kind": str(rng.choice(["a", "b", "c"])),
                           "n": int(rng.integers(1, 6)), "tuner/epochs": budget})
        trial = keras_tuner.engine.trial.Trial(hps, trial_id=f"t{number}", status="COMPLETED")
        trial.score = _score(hps.values)
        oracle.trials[trial.trial_id] = trial
    return oracle


def _draws(oracle, count, seed=0):
    model_sampler = sampler.install(oracle, "bohb", seed)
    return [oracle._random_values() for _ in range(count)], model_sampler


def test_before_enough_trials_every_draw_is_random():
    # 3 hyperparameters: the model needs 3 + 2 = 5 finished trials at one budget.
    draws, model_sampler = _draws(_oracle_with_trials(4), 30)
    assert model_sampler.from_model == 0 and all(draws)


def test_after_the_warm_up_most_draws_come_from_the_model_and_lean_to_the_best():
    oracle = _oracle_with_trials(40)
    draws, model_sampler = _draws(oracle, 60)
    assert 30 <= model_sampler.from_model <= 50  # about 2/3: a third stays random
    random_draws = [_oracle_with_trials(0)._random_values() for _ in range(60)]
    mean = lambda values: np.mean([_score(v) for v in values])  # noqa: E731
    assert mean(draws) > mean(random_draws) + 0.3, (mean(draws), mean(random_draws))
    assert sum(v["kind"] == "b" for v in draws) > 30


def test_the_largest_budget_with_enough_trials_is_modelled():
    oracle = _oracle_with_trials(40, budget=1)
    for number, trial in enumerate(_oracle_with_trials(6, seed=1, budget=3).trials.values()):
        oracle.trials[f"long{number}"] = trial
    dimensions = sampler.modelled_hyperparameters(oracle.hyperparameters)
    model = sampler.fit_model(sampler.finished_trials(oracle), dimensions)
    assert (model.budget, model.trials) == (3, 6)
    del oracle.trials["long0"], oracle.trials["long1"]  # 4 at budget 3: too few
    model = sampler.fit_model(sampler.finished_trials(oracle), dimensions)
    assert (model.budget, model.trials) == (1, 40)


def test_the_same_trials_and_seed_give_the_same_draws():
    first, _ = _draws(_oracle_with_trials(40), 20, seed=7)
    second, _ = _draws(_oracle_with_trials(40), 20, seed=7)
    other, _ = _draws(_oracle_with_trials(40), 20, seed=8)
    assert first == second and first != other


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_the_search_seed_fixes_keras_tuner_s_random_draws_too(seed):
    """keras-tuner takes seed 0 (--seed's default) for "no seed" and picks one at
    random: make_oracle passes it on so that it does not."""
    first, second = _oracle_with_trials(0, seed), _oracle_with_trials(0, seed)
    assert [first._random_values() for _ in range(5)] == \
        [second._random_values() for _ in range(5)]


def test_an_unknown_sampler_is_a_usage_error():
    with pytest.raises(UsageError, match=r"--sampler 'tpe' is invalid.*random, bohb"):
        SearchConfig(sampler="tpe")


TINY_SPACE = textwrap.dedent('''
    import keras
    import keras_tuner


    class TinySpace(keras_tuner.HyperModel):
        """One hyperparameter: the model needs 3 finished trials at a budget."""

        def __init__(self, input_shape, num_classes):
            super().__init__()
            self.input_shape, self.num_classes = input_shape, num_classes

        def build(self, hp):
            rate = hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")
            model = keras.Sequential([keras.Input(self.input_shape), keras.layers.Flatten(),
                                      keras.layers.Dense(self.num_classes, "softmax")])
            model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            return model
''')


def test_a_tiny_search_with_the_model_based_sampler(tmp_path, tracking_uri, experiment_name,
                                                     mlflow_client):
    """max_epochs 3, factor 3: bracket 1 draws 3 trials at random; when it is done,
    bracket 0's 2 new trials may come from the model (3 finished at 1 epoch); with
    seed 5 neither falls in the random third (the draws are seeded)."""
    (tmp_path / "tiny.py").write_text(TINY_SPACE)
    result = run_cli_here("run", "--sampler", "bohb", "--space", f"{tmp_path}/tiny.py:TinySpace",
                          "--max-epochs", 3, "--retrain", "none", "--seed", 5,
                          "--experiment", experiment_name, "--tracking-uri", tracking_uri,
                          "--project-dir", tmp_path / "project", "--export-dir",
                          tmp_path / "export", "--summary-json", tmp_path / "s.json",
                          cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["sampler_model_draws"] >= 1, summary
    parent = mlflow_client.get_run(summary["parent_run_id"])
    assert parent.data.params["sampler"] == "bohb"
    assert parent.data.metrics["sampler_model_draws"] == summary["sampler_model_draws"]
