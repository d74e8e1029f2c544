"""One confirm run: a fresh model of given hyperparameters, trained with one
seed for a fixed number of epochs, then scored.

Trained as the winner's final training is (search/kt/training.py): the search's
learning-rate schedule, no early stopping, the last epoch's model. The seed sets
the weights, dropout and the shuffling; the splits are the search's own. With a
test split the model trains on train + val and is scored on test; without one it
trains on train and is scored on val.
"""

import time

import keras

from search.kt import cost, training
from search.kt.device import apply_jit_compile


def scored_split(image_data):
    return "test" if image_data.x_test is not None else "val"


def train_and_score(hypermodel, hps, image_data, *, epochs, seed, batch_size,
                    lr_schedule="cosine", mixed_precision=False, jit_compile=False):
    """{accuracy, param_count, latency_ms, train_seconds} of one (hyperparameters, seed)."""
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    model = hypermodel.build(hps)
    apply_jit_compile(model, jit_compile)
    split = scored_split(image_data)
    train = image_data.pipeline("train+val" if split == "test" else "train", batch_size, seed)
    started = time.perf_counter()
    model.fit(train, epochs=epochs, callbacks=training.schedule_callbacks(lr_schedule, hps),
              verbose=0)
    seconds = time.perf_counter() - started
    _, accuracy = model.evaluate(image_data.pipeline(split, batch_size, seed), verbose=0)
    return {"accuracy": float(accuracy), "param_count": model.count_params(),
            "latency_ms": cost.latency_ms(model, 1), "train_seconds": seconds}
