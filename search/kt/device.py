"""Device set-up: GPU memory growth, mixed precision, XLA, distribution strategy.

Everything here runs before the first model is built: memory growth must be set
before TensorFlow allocates on a GPU, and the precision policy before layers exist.
"""

import logging

import keras
import tensorflow as tf

log = logging.getLogger(__name__)


def configure_devices(config):
    """Apply the config's device options; return facts to log on the parent run."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # already initialised by an earlier search in this process
    if not gpus and (config.mixed_precision or config.jit_compile):
        log.warning("No GPU visible: --mixed-precision/--jit-compile still apply, on the "
                    "CPU, where they rarely speed training up.")
    policy = "mixed_float16" if config.mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    strategy = make_strategy(config.strategy)
    device = f"GPU x{len(gpus)} ({', '.join(g.name for g in gpus)})" if gpus else "CPU"
    return strategy, {"device": device, "precision_policy": policy,
                      "jit_compile": config.jit_compile,
                      "replicas": strategy.num_replicas_in_sync if strategy else 1}


def apply_jit_compile(model, jit_compile):
    """Set XLA on or off explicitly. A space compiles with Keras' default
    jit_compile="auto", which turns XLA on wherever a GPU is visible: without an
    explicit False, `--jit-compile` off would still compile with XLA on a GPU."""
    model.jit_compile = bool(jit_compile)
    return model


def make_strategy(name):
    """`mirrored`: one trial's batches are split over every visible GPU (or the
    logical CPUs a test configured); `none`: keras-tuner's default device."""
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    return None
