"""Plain functions on Keras tensors that the search spaces are built from.

Each function takes a tensor and already-chosen values (not `hp`), so it can be
read, tested and reused without keras-tuner. The hypermodels decide the values.
"""

import math

import keras
from keras import layers

# Bridge choices: the layer between the feature extractor and the dense head.
FLATTEN = "flatten"
GLOBAL_AVG = "gap"
GLOBAL_MAX = "gmp"
CONCAT = "concat"  # GAP and GMP side by side
BRIDGES = (FLATTEN, GLOBAL_AVG, GLOBAL_MAX, CONCAT)


def preprocess(x, pixel_max, min_size, shift_pixels=0, augmentation="none",
               allow_flips=False):
    """Scale raw pixels to [0, 1], shift them at random while training, and
    upsample images smaller than `min_size`.

    Living inside the model means an exported model takes raw pixels. The
    augmentation (`augment`) also acts on the image's own pixels. Upsampling
    tiny inputs (8x8 digits) gives the convolutions room to work (measured in
    docs/options.md, "Defaults, and why").
    The random shift (up to `shift_pixels` raw pixels each way, training only:
    Keras' augmentation layers pass inputs through at inference) sits before the
    upsampling so it is counted in the image's own pixels.
    """
    x = layers.Rescaling(1.0 / float(pixel_max), name="rescale")(x)
    height, width = x.shape[1], x.shape[2]
    if shift_pixels:
        x = layers.RandomTranslation(shift_pixels / height, shift_pixels / width,
                                     fill_mode="constant", name="random_shift")(x)
    x = augment(x, augmentation, allow_flips)
    smallest = min(height, width)
    if min_size and smallest < min_size:
        factor = math.ceil(min_size / smallest)
        x = layers.UpSampling2D(size=factor, interpolation="bilinear", name="upsample")(x)
    return x


# Augmentation levels (the `augment` hyperparameter): Keras preprocessing layers
# that act while training only, so the exported model, TFLite and serving see
# none of them. Factors are fractions of the image (translation, zoom), of a
# full turn (rotation) and of the contrast.
AUGMENTATIONS = {
    "none": {},
    "light": {"translation": 0.08, "rotation": 0.03, "zoom": 0.08},
    "strong": {"translation": 0.15, "rotation": 0.08, "zoom": 0.15, "contrast": 0.3},
}


def augment(x, level, allow_flips=False):
    """Random changes of the [0, 1] images while training: translation,
    rotation, zoom (the empty border filled with black) and contrast; a
    horizontal flip only when `allow_flips` (digits and letters must not be
    mirrored)."""
    factors = AUGMENTATIONS[level]
    if not factors:
        return x
    edge = {"fill_mode": "constant", "fill_value": 0.0}
    x = layers.RandomTranslation(factors["translation"], factors["translation"], **edge,
                                 name="augment_translate")(x)
    x = layers.RandomRotation(factors["rotation"], **edge, name="augment_rotate")(x)
    x = layers.RandomZoom(factors["zoom"], **edge, name="augment_zoom")(x)
    if "contrast" in factors:
        x = layers.RandomContrast(factors["contrast"], value_range=(0.0, 1.0),
                                  name="augment_contrast")(x)
    if allow_flips:
        x = layers.RandomFlip("horizontal", name="augment_flip")(x)
    return x


def conv_bn_relu(x, filters, bn_momentum, strides=1, name=None):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def residual_block(x, filters, bn_momentum, strides=1, name="block"):
    """conv-BN-ReLU-conv-BN + skip; a 1x1 projection when the shape changes."""
    shortcut = x
    y = conv_bn_relu(x, filters, bn_momentum, strides=strides, name=f"{name}_a")
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(y)
    y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_b_bn")(y)
    if strides != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                 name=f"{name}_proj")(shortcut)
        shortcut = layers.BatchNormalization(momentum=bn_momentum,
                                             name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def residual_stack(x, depth, filters, bn_momentum):
    """`depth` residual blocks; each block after the first halves H and W and
    doubles the width, so deeper stacks see coarser, richer features."""
    for index in range(depth):
        downsample = index > 0
        width = filters * (2 ** index)
        x = residual_block(x, width, bn_momentum, strides=2 if downsample else 1,
                           name=f"res{index}")
    return x


def bridge(x, kind, flatten_pool=1):
    """Turn the H x W x C feature map into a vector for the dense head."""
    if kind == FLATTEN:
        if flatten_pool > 1:
            x = layers.MaxPooling2D(flatten_pool, name="flatten_pool")(x)
        return layers.Flatten(name="bridge_flatten")(x)
    if kind == GLOBAL_AVG:
        return layers.GlobalAveragePooling2D(name="bridge_gap")(x)
    if kind == GLOBAL_MAX:
        return layers.GlobalMaxPooling2D(name="bridge_gmp")(x)
    if kind == CONCAT:
        avg = layers.GlobalAveragePooling2D(name="bridge_gap")(x)
        peak = layers.GlobalMaxPooling2D(name="bridge_gmp")(x)
        return layers.Concatenate(name="bridge_concat")([avg, peak])
    raise ValueError(f"bridge must be one of {BRIDGES}, but got {kind!r}.")


def dense_head(x, units, dropout, num_classes):
    """Dense(units)-ReLU-Dropout-Dense(classes, softmax).

    The output layer is float32 so the head stays stable under mixed precision.
    """
    x = layers.Dense(units, activation="relu", name="head_dense")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", dtype="float32",
                        name="predictions")(x)


def compile_classifier(model, learning_rate):
    # Keywords only: in Keras 3 the third positional argument is loss_weights.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
