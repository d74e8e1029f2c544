"""HyperBridgeNet: the default search space.

A small residual CNN whose bridge (Flatten / GAP / GMP / concat of GAP+GMP),
residual depth and dense width are hyperparameters, next to filters, dropout and
learning rate. Any argument left at `None` is tuned; a value pins it, e.g.
`HyperBridgeNet(input_shape, 10, bridge="gap")` searches only GAP models.
"""

import functools
import math

import keras
import keras_tuner

from spaces import blocks

# Hyperparameter names: the same in every trial and every search, so MLflow's
# compare and parallel-coordinates views line up.
BRIDGE = "bridge"
RESIDUAL_BLOCKS = "residual_blocks"
FILTERS = "filters"
DENSE_UNITS = "dense_units"
DROPOUT = "dropout"
LEARNING_RATE = "learning_rate"
FLATTEN_POOL = "flatten_pool"  # only exists when bridge == flatten
AUGMENT = "augment"

# Defaults chosen against measured traps on small data (BatchNorm statistics
# that lag the data, inputs too small for the residual stack, a learning rate or
# width that wastes epochs); the figures behind each are in docs/options.md,
# "Defaults, and why", and come from scripts/bench_defaults.py. BatchNorm
# momentum 0.8, the rate's floor of 2e-3 and pooled bridges only after >= 2
# residual blocks lift first Hyperband rounds away from chance (with the warm-up
# of search/kt/training.py); Flatten's wide head diverges at high rates on 28x28
# inputs, so its draws stop at 3e-3 (the measurements: docs/options.md).
DEFAULT_BN_MOMENTUM = 0.8
DEFAULT_MIN_SIZE = 16
DEFAULT_SHIFT_PIXELS = 0
DEFAULT_FILTER_CHOICES = (16, 32)
DEFAULT_LEARNING_RATE_RANGE = (2e-3, 5e-3)
DEFAULT_MIN_POOLED_BLOCKS = 2
DEFAULT_MAX_FLATTEN_LEARNING_RATE = 3e-3
POOLED_BRIDGES = tuple(b for b in blocks.BRIDGES if b != blocks.FLATTEN)
MAX_RESIDUAL_BLOCKS = 5


def fitted_ranges(input_shape, min_size=DEFAULT_MIN_SIZE):
    """The ranges that scale with the image, in one place:

    - residual depth: up to the depth whose last map keeps >= 4 pixels a side
      (each block after the first halves it): 3 for 8x8 (upsampled to 16) and
      28x28, 4 for 32x32, 5 from 64x64 on;
    - filters: (16, 32) for gray images, (32, 64) for color, whose stem sees
      three times the inputs per pixel;
    - learning rate: (2e-3, 5e-3) up to depth 3; a deeper stack's floor drops
      in proportion (1.5e-3 at 4, 1.2e-3 at 5), as deeper BN-ResNets are
      trained at lower rates.
    The small-image figures are the measured defaults (docs/options.md);
    tests/spaces/test_fitted_ranges.py shows the rule on 8x8 gray, 28x28 gray
    and 32x32 RGB."""
    height, width, channels = input_shape
    side = max(min(height, width), min_size or 0)
    depth = max(1, min(MAX_RESIDUAL_BLOCKS, 1 + int(math.log2(max(side, 4) / 4))))
    filters = DEFAULT_FILTER_CHOICES if channels < 3 else tuple(2 * f for f in
                                                                DEFAULT_FILTER_CHOICES)
    low, high = DEFAULT_LEARNING_RATE_RANGE
    return {"max_residual_blocks": depth, "filter_choices": filters,
            "learning_rate_range": (low if depth <= 3 else low * 3 / depth, high)}


class HyperBridgeNet(keras_tuner.HyperModel):
    """Residual CNN image classifier with a searchable bridge layer.

    Args:
        input_shape: (H, W, C) of the raw images.
        num_classes: number of classes (>= 2).
        pixel_max: largest raw pixel value (255 for 8-bit images, 16 for digits);
            the model rescales by it, so it takes raw pixels.
        bridge, residual_blocks, filters, dense_units, dropout, learning_rate:
            `None` tunes the value; a value pins it.
        max_residual_blocks: upper bound of the residual depth search (None:
            `fitted_ranges`, like filter_choices and learning_rate_range).
        min_pooled_blocks: fewest residual blocks a pooled bridge (gap, gmp,
            concat) is worth training with (`rejects`); capped at
            `max_residual_blocks`.
        max_flatten_learning_rate: highest learning rate a Flatten model is
            trained with (`rejects`); None, or a value outside
            `learning_rate_range` (a range moved on purpose is the caller's),
            turns it off.
        bn_momentum: BatchNormalization momentum.
        min_size: inputs with a side below this are upsampled to at least it
            (0 turns upsampling off).
        filter_choices: the stem widths searched (each residual block after the
            first doubles it).
        learning_rate_range: (low, high) of the log-uniform learning rate search.
        shift_pixels: while training, shift each image at random by up to this
            many of its own pixels each way (0 turns the augmentation off).
        augment: the augmentation level (blocks.AUGMENTATIONS); None tunes it.
        allow_flips: augmentation may mirror images (never for digits, text).
    """

    # What a search shows of each trial (spaces.summary_keys): the question first.
    summary_keys = {BRIDGE: "bridge", RESIDUAL_BLOCKS: "depth", DENSE_UNITS: "width"}

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int,
                 pixel_max: float = 255.0, *,
                 bridge: str | None = None, residual_blocks: int | None = None,
                 filters: int | None = None, dense_units: int | None = None,
                 dropout: float | None = None, learning_rate: float | None = None,
                 augment: str | None = None, allow_flips: bool = False,
                 max_residual_blocks: int | None = None,
                 min_pooled_blocks: int = DEFAULT_MIN_POOLED_BLOCKS,
                 max_flatten_learning_rate: float | None = DEFAULT_MAX_FLATTEN_LEARNING_RATE,
                 bn_momentum: float = DEFAULT_BN_MOMENTUM, min_size: int = DEFAULT_MIN_SIZE,
                 shift_pixels: int = DEFAULT_SHIFT_PIXELS,
                 filter_choices: tuple[int, ...] | None = None,
                 learning_rate_range: tuple[float, float] | None = None,
                 name: str = "bridge_net", tunable: bool = True) -> None:
        super().__init__(name=name, tunable=tunable)
        if len(input_shape) != 3:
            raise ValueError(
                f"input_shape must be (height, width, channels), but got {input_shape!r}.")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, but got {num_classes}.")
        if bridge is not None and bridge not in blocks.BRIDGES:
            raise ValueError(f"bridge must be one of {blocks.BRIDGES} or None, but got {bridge!r}.")
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.pixel_max = float(pixel_max)
        self.pinned = {BRIDGE: bridge, RESIDUAL_BLOCKS: residual_blocks, FILTERS: filters,
                       DENSE_UNITS: dense_units, DROPOUT: dropout,
                       LEARNING_RATE: learning_rate, AUGMENT: augment}
        self.allow_flips = allow_flips
        fitted = fitted_ranges(self.input_shape, min_size)
        max_residual_blocks = max_residual_blocks or fitted["max_residual_blocks"]
        self.max_residual_blocks = max_residual_blocks
        self.min_pooled_blocks = min(min_pooled_blocks, max_residual_blocks)
        self.bn_momentum = bn_momentum
        self.min_size = min_size
        self.shift_pixels = shift_pixels
        self.filter_choices = list(filter_choices or fitted["filter_choices"])
        self.learning_rate_range = tuple(learning_rate_range or fitted["learning_rate_range"])
        low, high = self.learning_rate_range
        cap = max_flatten_learning_rate  # None: no cap
        self.max_flatten_learning_rate = cap if cap is not None and low < cap < high else None

    @property
    def min_input_size(self) -> int:
        """Smallest image side every model of this space takes: at the bridge the
        map must keep 2 pixels for Flatten's 2x2 pooling, after the stride-2
        residual blocks (each ceil-halves it). Upsampling covers smaller inputs."""
        side = 2
        for _ in range(self.max_residual_blocks - 1):
            side = 2 * side - 1  # ceil(n / 2) >= side  <=>  n >= 2 * side - 1
        return 1 if self.min_size >= side else side

    def rejects(self, values: dict) -> str | None:
        """Why a drawn set of hyperparameter values is not worth training, or None.

        - A pooled bridge after fewer than `min_pooled_blocks` residual blocks:
          a 3x3 stem and at most one block see a few pixels each; pooling their
          maps over the image leaves too little to tell classes apart, so such
          trials end near chance.
        - Flatten above `max_flatten_learning_rate`: its head sees H*W times
          more inputs than a pooled one and diverges in its first epochs.

        keras-tuner has no rule between two hyperparameters (a second
        `residual_blocks` or `learning_rate` in a conditional scope is dropped by
        its `ensure_active_values`), so the ranges stay the same for every bridge
        and bridge-search's oracle draws a rejected set again. A value pinned by
        the caller is never rejected.
        """
        bridge, depth = values.get(BRIDGE), values.get(RESIDUAL_BLOCKS)
        if (bridge in POOLED_BRIDGES and depth is not None
                and depth < self.min_pooled_blocks and self.pinned[RESIDUAL_BLOCKS] is None):
            return (f"bridge {bridge!r} needs residual_blocks >= {self.min_pooled_blocks}, "
                    f"got {depth}")
        rate, cap = values.get(LEARNING_RATE), self.max_flatten_learning_rate
        if (bridge == blocks.FLATTEN and rate is not None and cap is not None
                and rate > cap and self.pinned[LEARNING_RATE] is None):
            return f"bridge 'flatten' needs learning_rate <= {cap:g}, got {rate:.3g}"
        return None

    def rules(self) -> list[str]:
        """`rejects`' rules in words, for `bridge-search spaces`."""
        said, bridge = [], self.pinned[BRIDGE]
        if (self.min_pooled_blocks > 0 and self.pinned[RESIDUAL_BLOCKS] is None
                and bridge in (None, *POOLED_BRIDGES)):
            said.append(f"{', '.join(POOLED_BRIDGES)} only with residual_blocks >= "
                        f"{self.min_pooled_blocks}")
        if (self.max_flatten_learning_rate is not None and self.pinned[LEARNING_RATE] is None
                and bridge in (None, blocks.FLATTEN)):
            said.append(f"flatten only with learning_rate <= {self.max_flatten_learning_rate:g}")
        return said

    def _value(self, hp, name, declare):
        """A pinned value becomes hp.Fixed (still logged); otherwise declare()."""
        if self.pinned[name] is not None:
            return hp.Fixed(name, self.pinned[name])
        return declare()

    def declare(self, hp: keras_tuner.HyperParameters) -> dict:
        """Declare every hyperparameter; returns their values by name."""
        values = {
            BRIDGE: self._value(hp, BRIDGE, lambda: hp.Choice(BRIDGE, list(blocks.BRIDGES))),
            RESIDUAL_BLOCKS: self._value(hp, RESIDUAL_BLOCKS, lambda: hp.Int(
                RESIDUAL_BLOCKS, 0, self.max_residual_blocks)),
            FILTERS: self._value(hp, FILTERS, lambda: hp.Choice(FILTERS, self.filter_choices)),
            DENSE_UNITS: self._value(hp, DENSE_UNITS, lambda: hp.Choice(
                DENSE_UNITS, [32, 64, 128, 256])),
            DROPOUT: self._value(hp, DROPOUT, lambda: hp.Float(DROPOUT, 0.0, 0.5, step=0.25)),
            LEARNING_RATE: self._value(hp, LEARNING_RATE, lambda: hp.Float(
                LEARNING_RATE, *self.learning_rate_range, sampling="log")),
        }
        values[AUGMENT] = self._value(hp, AUGMENT, lambda: hp.Choice(
            AUGMENT, list(blocks.AUGMENTATIONS)))
        # Pooling before Flatten only matters for the Flatten bridge: it trades the
        # H*W growth of the head's parameters against spatial detail.
        with hp.conditional_scope(BRIDGE, [blocks.FLATTEN]):
            values[FLATTEN_POOL] = hp.Choice(FLATTEN_POOL, [1, 2])
        return values

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        v = self.declare(hp)
        inputs = keras.Input(shape=self.input_shape, name="image")
        x = blocks.preprocess(inputs, self.pixel_max, self.min_size, self.shift_pixels,
                              v[AUGMENT], self.allow_flips)
        x = blocks.conv_bn_relu(x, v[FILTERS], self.bn_momentum, name="stem")
        x = blocks.residual_stack(x, v[RESIDUAL_BLOCKS], v[FILTERS], self.bn_momentum)
        x = blocks.bridge(x, v[BRIDGE], flatten_pool=v[FLATTEN_POOL] or 1)
        outputs = blocks.dense_head(x, v[DENSE_UNITS], v[DROPOUT], self.num_classes)
        model = keras.Model(inputs, outputs, name=f"{self.name}_{v[BRIDGE]}")
        return blocks.compile_classifier(model, v[LEARNING_RATE])


# The registry's "bridge-small": at most one residual block, narrow layers; the
# same hyperparameter names, so its runs compare with "bridge".
small_bridge_net = functools.partial(HyperBridgeNet, max_residual_blocks=1, filters=8,
                                     dense_units=16, augment="none")
