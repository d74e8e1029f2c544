"""Pick the device: the GPU when TensorFlow sees one, else the CPU."""

import tensorflow as tf


def configure_devices():
    """Turn on GPU memory growth (must precede any allocation) and describe the
    device the search trains on."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # already initialised by an earlier search in this process
    if gpus:
        return f"GPU x{len(gpus)} ({', '.join(g.name for g in gpus)})"
    return "CPU"
