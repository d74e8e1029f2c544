"""Why first-round trials of the default space end near chance (issue 12 item 7).

Fixed members of the bridge space trained for ONE epoch on digits (what a trial
of Hyperband's most exploratory bracket gets), constant learning rate as the
first epoch of a cosine fit has; val accuracy in inference mode (BatchNorm moving
statistics, what the search scores) and in training mode (batch statistics).

    python scripts/bench_first_round.py [--seeds 0 1 2] [--epochs 1]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from search.data import load_digits  # noqa: E402
from spaces.bridge_net import HyperBridgeNet  # noqa: E402

BASE = dict(filters=16, dense_units=32, dropout=0.5, flatten_pool=1)


def configs(bridges, depths, rates):
    """name -> hyperparameters: the space's weakest corners (narrowest, most dropout)."""
    return {f"{bridge}/{blocks}/lr{lr:g}": dict(BASE, bridge=bridge, residual_blocks=blocks,
                                                learning_rate=lr)
            for bridge in bridges for blocks in depths for lr in rates}


def first_round(values, data, seed, epochs, **space_options):
    keras.utils.set_random_seed(seed)
    keras.backend.clear_session()
    space = HyperBridgeNet(data.input_shape, data.num_classes, data.pixel_max, **space_options)
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    model = space.build(hp)
    model.fit(data.pipeline("train", 32, seed), epochs=epochs, verbose=0)
    x_val = data.x_val.astype("float32")
    inference = float(np.mean(np.argmax(model.predict(x_val, verbose=0), 1) == data.y_val))
    training = float(np.mean(np.argmax(model(x_val, training=True), 1) == data.y_val))
    return inference, training


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--bn-momentum", type=float, default=None)
    parser.add_argument("--bridges", nargs="+", default=["gap", "gmp", "concat", "flatten"])
    parser.add_argument("--depths", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--rates", type=float, nargs="+", default=[5e-4, 5e-3])
    args = parser.parse_args()
    data = load_digits()
    options = {} if args.bn_momentum is None else {"bn_momentum": args.bn_momentum}
    print(f"digits: {len(data.y_train)} train images, {len(data.y_train) // 32 + 1} steps "
          f"per epoch; {args.epochs} epoch(s); {options or 'space defaults'}")
    print(f"{'config':<22} " + " ".join(f"seed{s} inf/train" for s in args.seeds))
    for name, values in configs(args.bridges, args.depths, args.rates).items():
        cells = [first_round(values, data, seed, args.epochs, **options) for seed in args.seeds]
        print(f"{name:<22} " + " ".join(f"{i:.3f}/{t:.3f}   " for i, t in cells), flush=True)


if __name__ == "__main__":
    main()
