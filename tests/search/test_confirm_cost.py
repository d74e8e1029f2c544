"""What the confirm stage costs, said before training (issue 24, item 4): the dry
run's estimate of `run --confirm-seeds K`, and --time-budget with it refused in
one line before TensorFlow loads (the budget does not plan the stage yet)."""

import pytest

from search.core.config import SearchConfig
from search.core.errors import UsageError
from search.plan import confirm_cost
from tests.conftest import LIST_IMPORTS, imported_tensorflow, run_cli
from tests.search.test_bad_input import assert_one_line

TIMING = {"epoch_seconds": 2.0, "trial_overhead_seconds": 3.0}


@pytest.mark.parametrize("seeds, max_epochs, min_retrain, epochs", [
    (1, 2, 1, 2), (3, 2, 1, 2), (2, 4, 8, 8)])
def test_estimate_is_values_times_seeds_runs_of_the_final_training(seeds, max_epochs,
                                                                   min_retrain, epochs):
    config = SearchConfig(space="bridge-small", confirm_seeds=seeds, max_epochs=max_epochs,
                          min_retrain_epochs=min_retrain)
    runs, planned_epochs, seconds = confirm_cost.confirm_estimate(config, TIMING)
    assert runs == 4 * seeds and planned_epochs == epochs  # 4 bridges
    # digits: trained on train + val (1,221 + 216 images) as the final training.
    per_epoch = 2.0 * (1221 + 216) / 1221
    assert seconds == pytest.approx(runs * (epochs * per_epoch + 3.0))
    assert f"{runs} runs of at most {epochs} epochs" in confirm_cost.dry_run_line(config, TIMING)


def test_time_budget_with_confirm_seeds_is_refused_in_the_config():
    with pytest.raises(UsageError, match=r"--confirm-seeds 2 with --time-budget 5m is not "
                                         r"supported yet.*bridge-search confirm"):
        SearchConfig(time_budget="5m", confirm_seeds=2)
    SearchConfig(time_budget="5m", confirm_seeds=0)


def test_time_budget_with_confirm_seeds_exits_2_before_tensorflow(tmp_path):
    done = run_cli("run", "--time-budget", "5m", "--confirm-seeds", "3", cwd=tmp_path,
                   env=LIST_IMPORTS)
    assert done.returncode == 2
    assert_one_line(done.stderr, "--confirm-seeds 3 with --time-budget 5m")
    assert not imported_tensorflow(done.stderr)
    assert list(tmp_path.iterdir()) == []
