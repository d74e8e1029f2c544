"""How trials and the winner are trained: the learning-rate schedule and the
winner's final training on train+val.

Kept apart from the tuner loop so the choices that decide accuracy on small data
sit in one file (their figures: README, "Defaults").
"""

import math

import keras
import numpy as np

LEARNING_RATE_HP = "learning_rate"


# A trial's head can die in its first steps: after Flatten on a 28x28 map, Adam's
# first updates (about the full rate on every weight, whatever the gradient) move
# thousands of inputs at once and every ReLU of the head goes silent (val accuracy
# at chance from the first epoch). A linear warm-up over the first half of the
# first epoch of each fit prevents it (figures: docs/budget.md, "First-round trials").
WARMUP_FRACTION = 0.5


class CosineEpochs(keras.callbacks.Callback):
    """Cosine decay of the learning rate over the epochs of one `fit`, per epoch,
    after a linear warm-up over the first `warmup_fraction` of its first epoch.

    Each fit (a Hyperband round continues a trial in a new fit) starts again at
    the trial's base rate: a warm restart, with its own warm-up. The base comes
    from the trial's `learning_rate` hyperparameter when it has one, because a
    continued trial's checkpoint carries the decayed rate of its predecessor's
    last epoch.
    """

    def __init__(self, base_learning_rate=None, warmup_fraction=WARMUP_FRACTION):
        super().__init__()
        self.base_learning_rate = base_learning_rate
        self.warmup_fraction = warmup_fraction
        self._first_epoch = None

    def on_train_begin(self, logs=None):
        self._first_epoch = None
        self._step = 0
        # steps is None for data of unknown length: no warm-up then.
        self._warmup_steps = math.ceil(self.warmup_fraction * (self.params.get("steps") or 0))
        if self.base_learning_rate is None:
            self.base_learning_rate = float(np.asarray(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        span = max(self.params["epochs"] - self._first_epoch, 1)
        progress = (epoch - self._first_epoch) / span
        self._epoch_rate = self.base_learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))
        self.model.optimizer.learning_rate.assign(self._epoch_rate)

    def on_train_batch_begin(self, batch, logs=None):
        if self._step >= self._warmup_steps:
            return
        self._step += 1
        warmed = self._epoch_rate * min(self._step / self._warmup_steps, 1.0)
        self.model.optimizer.learning_rate.assign(warmed)


def schedule_callbacks(schedule, hyperparameters):
    """Callbacks a trial's fit gets for `--lr-schedule`."""
    if schedule == "constant":
        return []
    return [CosineEpochs(hyperparameters.values.get(LEARNING_RATE_HP))]


def retrain_epochs(best_epoch, min_epochs):
    """Epochs of the final training: the winner's best epoch count (cumulative
    over its Hyperband rounds), but never fewer than `min_epochs`: a winner from a
    short bracket has not shown how long it should train."""
    return max(int(best_epoch or 0), int(min_epochs))


def retrain_on_train_and_val(build, hyperparameters, image_data, epochs, batch_size,
                             seed, schedule="cosine", callbacks=()):
    """A fresh model of the winning hyperparameters (`build(hp)` makes it),
    trained on train + val.

    The test split is not read here: it only scores the returned model. There is
    no validation set left to pick an epoch, so the schedule decays to the end
    and the last epoch's model is the one returned.
    """
    keras.utils.set_random_seed(seed)
    model = build(hyperparameters)
    dataset = image_data.pipeline("train+val", batch_size, seed)
    callbacks = [*schedule_callbacks(schedule, hyperparameters), *callbacks]
    model.fit(dataset, epochs=epochs, callbacks=callbacks, verbose=0)
    return model


# Keras' random augmentation layers: they pass images through at inference, but
# their traced graph keeps the random ops, which TFLite cannot convert.
AUGMENTATION_LAYERS = (keras.layers.RandomTranslation, keras.layers.RandomRotation,
                       keras.layers.RandomZoom, keras.layers.RandomContrast,
                       keras.layers.RandomFlip, keras.layers.RandomBrightness)


def inference_model(model):
    """The model to export and serve: `model` with its augmentation layers
    replaced by Identity (same outputs at inference, same weights; the model
    itself when it has none, or is not a functional model)."""
    if not any(isinstance(layer, AUGMENTATION_LAYERS) for layer in model.layers):
        return model

    def without_augmentation(layer):
        if isinstance(layer, AUGMENTATION_LAYERS):
            return keras.layers.Identity(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    try:
        clone = keras.models.clone_model(model, clone_function=without_augmentation)
    except ValueError:  # a subclassed model: exported as it is
        return model
    clone.set_weights(model.get_weights())
    optimizer = model.optimizer
    clone.compile(optimizer=optimizer.__class__.from_config(optimizer.get_config()),
                  loss=model.loss, metrics=["accuracy"])
    return clone
