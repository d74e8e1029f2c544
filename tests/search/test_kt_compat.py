"""Every private keras-tuner name that search/kt/compat.py touches still
exists, with the signature it had on the tested releases. When a keras-tuner
release changes one, the failure names it and the tested range."""

import configparser
import importlib
import inspect
import os
import subprocess
import sys

import keras_tuner
import pytest
from packaging.specifiers import SpecifierSet

from search.kt import compat as kt_compat
from tests.conftest import REPO_ROOT


def _instance_of(cls):
    """Instance attributes exist only on an object: a small stock one of `cls`."""
    if issubclass(cls, keras_tuner.oracles.HyperbandOracle):
        return cls(objective="val_accuracy", max_epochs=3, factor=3)
    raise TypeError(f"no sample instance of {cls.__name__}")


def resolve(dotted):
    """The object a dotted name points at: modules, then attributes (instance
    attributes of a class are looked up on a sample instance)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
            break
        except ImportError:
            continue
    for name in parts[split:]:
        if inspect.isclass(target) and not hasattr(target, name):
            target = _instance_of(target)
        target = getattr(target, name)
    return target


def problem(dotted, expected_signature):
    """None when `dotted` is as kt_compat expects; else one clear line."""
    where = (f"keras-tuner {keras_tuner.__version__} (bridge-search is tested with "
             f"keras-tuner{kt_compat.TESTED_RANGE}); adapt search/kt/compat.py")
    try:
        target = resolve(dotted)
    except (AttributeError, TypeError) as error:
        return f"{dotted} is gone in {where}: {error}"
    if expected_signature is None:
        return None
    found = str(inspect.signature(target))
    if found != expected_signature:
        return (f"{dotted} changed its signature in {where}: expected "
                f"{expected_signature}, found {found}")
    return None


@pytest.mark.parametrize("dotted", sorted(kt_compat.PRIVATE_NAMES))
def test_private_name_is_still_there_with_its_signature(dotted):
    message = problem(dotted, kt_compat.PRIVATE_NAMES[dotted])
    assert message is None, message


def test_a_changed_signature_is_reported_with_the_name_and_the_tested_range(monkeypatch):
    monkeypatch.setattr(keras_tuner.Tuner, "_get_checkpoint_fname",
                        lambda self, trial_id, step: "")
    message = problem("keras_tuner.Tuner._get_checkpoint_fname", "(self, trial_id)")
    assert message.startswith("keras_tuner.Tuner._get_checkpoint_fname changed its signature")
    assert "tested with keras-tuner>=1.4.7,<1.5" in message
    assert "found (self, trial_id, step)" in message


def test_a_removed_name_is_reported_with_the_name_and_the_tested_range(monkeypatch):
    monkeypatch.delattr(keras_tuner.oracles.HyperbandOracle, "_get_size")
    message = problem("keras_tuner.oracles.HyperbandOracle._get_size", "(self)")
    assert message.startswith("keras_tuner.oracles.HyperbandOracle._get_size is gone in "
                              f"keras-tuner {keras_tuner.__version__}")
    assert "tested with keras-tuner>=1.4.7,<1.5" in message


def test_the_docstring_lists_every_private_name_it_touches():
    for dotted in kt_compat.PRIVATE_NAMES:
        assert dotted.rsplit(".", 1)[-1] in kt_compat.__doc__, dotted


def test_the_open_brackets_have_the_layout_the_checkpoint_budget_reads():
    hp = keras_tuner.HyperParameters()
    hp.Choice("width", [8, 16])
    oracle = keras_tuner.oracles.HyperbandOracle(objective="val_accuracy", max_epochs=3,
                                                 factor=3, hyperparameters=hp)
    [(bracket_num, rounds)] = kt_compat.open_brackets(oracle)
    assert bracket_num == kt_compat.num_brackets(oracle) - 1
    assert len(rounds) == kt_compat.num_rounds(oracle, bracket_num)
    oracle.populate_space("0000")
    assert rounds[0] == [{"past_id": None, "id": "0000"}]


def test_setup_cfg_pins_keras_tuner_to_the_tested_range_which_holds_the_installed_one():
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    requirements = config["options"]["install_requires"].split("\n")
    assert f"keras-tuner{kt_compat.TESTED_RANGE}" in requirements
    assert keras_tuner.__version__ in SpecifierSet(kt_compat.TESTED_RANGE)


def test_importing_the_tuner_changes_no_global_setting_until_a_search_starts():
    code = ("import warnings\n"
            "import search.run, search.kt.tuner, search.plan.dry_run\n"
            "from keras_tuner.src import config\n"
            "from search.kt import compat as kt_compat\n"
            "def state():\n"
            "    hidden = any(f[1] and f[1].match('`shuffle=True` was passed')\n"
            "                 for f in warnings.filters)\n"
            "    return f'DEBUG={config.DEBUG} shuffle_warning_hidden={hidden}'\n"
            "print(state())\n"
            "kt_compat.quiet_keras_tuner()\n"
            "print(state())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[:2] == [
        "DEBUG=True shuffle_warning_hidden=False",  # imported: nothing changed yet
        "DEBUG=False shuffle_warning_hidden=True"]  # a search starts
