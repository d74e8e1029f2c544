"""GPU correctness checked on the CPU (issue 12 item 8): `--jit-compile` off is an
explicit False (Keras' "auto" turns XLA on wherever a GPU is visible), and the
launcher's chief keeps the GPUs for the winner's final training."""

import os

import keras
import keras_tuner
import pytest

from search import SearchConfig
from search.distributed import launch
from tests.search.tuner_helpers import bare_tuner
from spaces.bridge_net import small_bridge_net


@pytest.fixture
def auto_means_xla(monkeypatch):
    """What jit_compile="auto" resolves to on a machine with a GPU."""
    from keras.src.trainers import trainer
    monkeypatch.setattr(trainer.Trainer, "_resolve_auto_jit_compile", lambda self: True)


def _tuner(tmp_path, jit_compile):
    return bare_tuner(small_bridge_net((8, 8, 1), 10, 16.0), tmp_path, max_epochs=1, factor=2,
                      tuner_options={"jit_compile": jit_compile})


@pytest.mark.parametrize("jit_compile", [False, True])
def test_jit_compile_flag_decides_xla_where_auto_would_turn_it_on(
        tmp_path, auto_means_xla, jit_compile):
    tuner = _tuner(tmp_path, jit_compile)
    hp = keras_tuner.HyperParameters()
    assert tuner.build_model(hp).jit_compile is jit_compile  # every trial
    keras.backend.clear_session()
    assert tuner.build_fresh(hp).jit_compile is jit_compile  # the winner's final training


@pytest.mark.parametrize("visible, pinned", [
    ("0,1", ["0", "1", "0"]), ("2, 3", ["2", "3", "2"]),
    ("0,-1,1", ["0", "0", "0"]),  # CUDA stops at the first invalid id: GPU 0 only
    ("GPU-5a1b,MIG-7c2d", ["GPU-5a1b", "MIG-7c2d", "GPU-5a1b"])])
def test_the_chief_keeps_the_gpus_and_each_worker_gets_one(tmp_path, monkeypatch, visible,
                                                           pinned):
    # The user's CUDA_VISIBLE_DEVICES names the GPUs: "2,3" pins workers to 2 and 3.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    config = SearchConfig(project_dir=str(tmp_path / "p"), export_dir=str(tmp_path / "e"))
    launcher = launch.Launcher(config, workers=3, oracle_port=1234)
    assert launcher._env("chief")["CUDA_VISIBLE_DEVICES"] == visible
    assert [launcher._env(f"tuner{i}")["CUDA_VISIBLE_DEVICES"] for i in (1, 2, 3)] == pinned


@pytest.mark.parametrize("printed, gpus", [
    (b"0\n1\n", ["0", "1"]),
    (b"WARNING: infoROM is corrupted at gpu 0000:00:04.0\n0\n1\n", ["0", "1"]),
    (b"No devices were found\n", []), (b"\xff\xfe\n", [])])
def test_without_cuda_visible_devices_the_gpus_are_nvidia_smis(monkeypatch, tmp_path, printed,
                                                               gpus):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    (tmp_path / "printed").write_bytes(printed)
    fake = tmp_path / "nvidia-smi"  # a stand-in for the driver's tool on this CPU machine
    fake.write_text(f"#!/bin/sh\ncat {tmp_path / 'printed'}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert launch.visible_gpus() == gpus


def test_without_a_driver_no_worker_is_pinned(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert launch.visible_gpus() == []
