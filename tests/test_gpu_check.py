"""scripts/gpu_check.sh refuses loudly where there is no GPU (issue 25, item 5).
Its GPU path needs an NVIDIA GPU, which no machine of this project's CI has: what
is tested here is every way it says FAIL, and the verdict on trials that ran on
the CPU (tests/search/test_newcomer_noise.py checks that trials carry the tag)."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_check.sh"


def _load_checker():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO_ROOT / "scripts" /
                                                  "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(path, tmp_path):
    env = {**os.environ, "PATH": path, "PYTHON": sys.executable,
           "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)


def _fake_nvidia_smi(tmp_path, listing):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text(f"#!/usr/bin/env bash\necho '{listing}'\n")
    fake.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def test_without_nvidia_smi_it_fails_loudly(tmp_path):
    if shutil.which("nvidia-smi", path="/usr/bin:/bin"):
        pytest.skip("this machine has nvidia-smi in /usr/bin")
    done = _run("/usr/bin:/bin", tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("gpu_check: FAIL: nvidia-smi not found"), done.stderr


def test_nvidia_smi_listing_no_gpu_fails_loudly(tmp_path):
    done = _run(_fake_nvidia_smi(tmp_path, "No devices were found"), tmp_path)
    assert done.returncode == 1
    assert "gpu_check: FAIL: nvidia-smi lists no GPU (No devices were found)" in done.stderr


def test_a_gpu_tensorflow_cannot_see_fails_loudly(tmp_path):
    """nvidia-smi lists a GPU (a stand-in) but TensorFlow, the CPU build here, sees none."""
    done = _run(_fake_nvidia_smi(tmp_path, "GPU 0: NVIDIA H100 (UUID: GPU-0)"), tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "gpu_check: FAIL: TensorFlow sees no GPU though nvidia-smi lists 1" in done.stderr


GPU_ROW = ("0000 gap d1 w32", "/job:localhost/replica:0/task:0/device:GPU:0", 0.2, 90.0)
CPU_ROW = ("0001 flatten d2 w64", "/job:localhost/replica:0/task:0/device:CPU:0", 1.5, 0.0)
ON_GPU = {"device": "GPU x1 (/physical_device:GPU:0)", "precision_policy": "mixed_float16",
          "jit_compile": "True"}


@pytest.mark.parametrize("gpu_rows, launch_rows, params, growth, expected", [
    ([GPU_ROW], [GPU_ROW], ON_GPU, {"gpu0": True}, []),
    ([GPU_ROW, CPU_ROW], [GPU_ROW], ON_GPU, {"gpu0": True}, ["gpu trial 0001 flatten d2 w64 "
                                                             "ran on /job:localhost"]),
    ([GPU_ROW], [CPU_ROW], ON_GPU, {"gpu0": True}, ["launch trial 0001"]),
    ([GPU_ROW], [GPU_ROW], {**ON_GPU, "device": "CPU"}, {"gpu0": True}, ["device is CPU"]),
    ([GPU_ROW], [GPU_ROW], {**ON_GPU, "jit_compile": "False"}, {"gpu0": True}, ["XLA was off"]),
    ([GPU_ROW], [GPU_ROW], ON_GPU, {"gpu0": False}, ["memory growth is off on gpu0"]),
    ([], [GPU_ROW], ON_GPU, {"gpu0": True}, ["the gpu search logged no trial"])])
def test_the_verdict_fails_on_anything_that_fell_back_to_the_cpu(
        capsys, gpu_rows, launch_rows, params, growth, expected):
    checker = _load_checker()
    results = {"gpu": (gpu_rows, params), "cpu": ([CPU_ROW], {"device": "CPU"}),
               "launch": (launch_rows, params)}
    code = checker.verdict({"gpu": 0, "cpu": 0, "launch": 0}, results, growth)
    err = capsys.readouterr()
    assert code == (1 if expected else 0)
    for text in expected:
        assert f"gpu_check: FAIL: " in err.err and text in err.err, err.err
    if not expected:
        assert "gpu_check: OK: every trial on a GPU" in err.out and "(7.5x)" in err.out
