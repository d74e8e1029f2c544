"""The figures behind the training defaults: fixed winners of the bridge space
trained with each default switched off, one at a time, over several seeds.

Variants (each trains a fresh model; test accuracy of the final model):
  default       train+val, cosine learning rate, 8 epochs, no random shift
  no-retrain    train only (what the search's own winner saw), cosine, 8 epochs
  constant-lr   train+val, constant learning rate, 8 epochs
  4-epochs      train+val, cosine, 4 epochs (a short-bracket winner, no minimum)
  shift-1px     train+val, cosine, 8 epochs, random shift of +-1 px

    python scripts/bench_defaults.py [--data npz:PATH] [--seeds 0 1 2]
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

from search.kt import training  # noqa: E402
from search.data import ImageData, load  # noqa: E402
from spaces.bridge_net import HyperBridgeNet  # noqa: E402

import bench_record  # noqa: E402

WINNERS = {  # the winner of `bridge-search run --data npz:digits_split.npz --seed 2`
    "flatten/3/128": dict(bridge="flatten", residual_blocks=3, filters=32, dense_units=128,
                          dropout=0.25, learning_rate=0.0027942243346154457, flatten_pool=2),
    # a weaker member of the space: retraining does not rescue every model
    "flatten/3/64 (filters 16, lr 1e-3)": dict(
        bridge="flatten", residual_blocks=3, filters=16, dense_units=64, dropout=0.25,
        learning_rate=1e-3, flatten_pool=1),
}
VARIANTS = {  # name -> (retrain on train+val, schedule, epochs, shift pixels)
    "default": (True, "cosine", 8, 0),
    "no-retrain": (False, "cosine", 8, 0),
    "constant-lr": (True, "constant", 8, 0),
    "4-epochs": (True, "cosine", 4, 0),
    "shift-1px": (True, "cosine", 8, 1),
}


def train(image_data, values, variant, seed):
    retrain, schedule, epochs, shift = VARIANTS[variant]
    hypermodel = HyperBridgeNet(image_data.input_shape, image_data.num_classes,
                                image_data.pixel_max, shift_pixels=shift)
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    data = image_data if retrain else ImageData(  # val stays out: train + empty val
        image_data.x_train, image_data.y_train, image_data.x_val[:0], image_data.y_val[:0])
    model = training.retrain_on_train_and_val(hypermodel.build, hp, data, epochs, 32, seed,
                                              schedule)
    _, accuracy = model.evaluate(image_data.pipeline("test", 64, 0), verbose=0)
    keras.backend.clear_session()
    return accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="npz:/work/shared/data/digits_split.npz")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    bench_record.add_option(parser, "defaults")
    args = parser.parse_args()
    image_data = load(args.data)
    print(f"{args.data}: test accuracy, seeds {' / '.join(map(str, args.seeds))}")
    print("| winner | " + " | ".join(args.variants) + " |")
    print("|---" * (len(args.variants) + 1) + "|")
    figures = {}  # {winner: {variant: [test accuracy per seed]}}
    for name, values in WINNERS.items():
        cells = []
        for variant in args.variants:
            scores = [train(image_data, values, variant, seed) for seed in args.seeds]
            figures.setdefault(name, {})[variant] = scores
            cells.append(" / ".join(f"{s:.3f}" for s in scores) + f" (mean {np.mean(scores):.3f})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    bench_record.write(args.record_path, "defaults", "Training defaults on a fixed winner",
                       {"seeds": args.seeds, "test_accuracy": figures})


if __name__ == "__main__":
    main()
