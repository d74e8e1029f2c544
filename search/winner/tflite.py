"""TFLite export of the winner: `model.tflite` (float32) and, with --quantize,
`model_int8.tflite` (int8 dynamic-range: weights stored as int8, activations
float), for phones and other edge devices.

Converted with tf.lite.TFLiteConverter.from_keras_model (works with Keras 3 on
TF 2.21). Predictions run with the LiteRT interpreter (`ai_edge_litert`) when it
is installed, else with tf.lite.Interpreter, which TF 2.21 still ships but marks
deprecated (its warning is silenced here; the tests compare with Keras on it).
"""

import contextlib
import io
import logging
import re
import warnings

import numpy as np

from search.core import quiet

log = logging.getLogger(__name__)

TFLITE_FILE = "model.tflite"
TFLITE_INT8_FILE = "model_int8.tflite"


def convert(model, quantize=False):
    """The model as TFLite flatbuffer bytes (int8 dynamic-range when `quantize`)."""
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range int8
    # Keras 3 exports a temporary SavedModel for the converter and prints its whole
    # signature ("Saved artifact at ...", one line per variable) to stdout; the MLIR
    # converter writes a refusal's op trail to fd 2, then raises with the same text
    # (write_tflite's warning says it in one line), unless TensorFlow's logs were asked.
    with contextlib.redirect_stdout(io.StringIO()), \
            quiet.fd2_filtered(lambda line: quiet.tensorflow_logs_asked()):
        return converter.convert()


def write_tflite(model, folder, quantize=False):
    """Write the TFLite file(s) into `folder`; return {file name: size in MB}.

    A model the converter refuses (e.g. mixed_float16 ops TFLite's builtins lack)
    gets no TFLite file and a warning: the .keras and SavedModel exports are what
    the search promised, so the TFLite extra never fails a search."""
    sizes = {}
    for name, quantized in [(TFLITE_FILE, False)] + ([(TFLITE_INT8_FILE, True)] if quantize
                                                      else []):
        try:
            content = convert(model, quantized)
        except Exception as error:  # noqa: BLE001 - TF's ConverterError and friends
            reason = _reason(error)
            log.warning(f"warning: {name} not written: the TFLite converter refused the "
                        f"model ({reason}); model.keras and saved_model/ are complete.")
            continue
        (folder / name).write_bytes(content)
        sizes[name] = len(content) / 1e6
    return sizes


def _reason(error):
    """The converter's refusal in a few words: the ops it lacks, when it names them
    (its first line is an MLIR location trail of several hundred characters)."""
    text = str(error)
    lacking = re.search(r"^TF Select ops: (.+)$", text, re.MULTILINE)
    if lacking:
        return f"ops TFLite's builtins lack: {lacking.group(1).strip()}"
    return (text.strip().splitlines() or [type(error).__name__])[0][:200]


def _interpreter(content):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "tf.lite.Interpreter is deprecated"
            return tf.lite.Interpreter(model_content=content)
    return Interpreter(model_content=content)


def predict(content, x):
    """Class scores of the TFLite model for the images `x`, one image per call
    (the converted signature has batch size 1)."""
    interpreter = _interpreter(content)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    outputs = []
    for image in np.asarray(x, dtype="float32"):
        interpreter.set_tensor(source["index"], image[None].astype(source["dtype"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target["index"])[0])
    return np.stack(outputs)


TFLITE_ARTIFACT = "winner_tflite"  # beside the MLflow model `winner` on the parent run


def log_tflite(tracker, export_dir):
    """The exported TFLite file(s) as artifacts of the search's parent run."""
    for name in (TFLITE_FILE, TFLITE_INT8_FILE):
        path = export_dir / name
        if path.is_file():
            tracker.log_search_artifact(path, TFLITE_ARTIFACT)
