"""Which training batch size? Throughput (images/s) and what it costs in accuracy.

For each data set, one mid-space model of the default space (concat bridge, depth 2,
the first filter choice, width 64, no augmentation) is trained with each batch size
from the same seed, the batch sizes interleaved over `--repeats` rounds so that a
noisy machine slows all of them alike. Per batch size it prints the training
throughput (images/s over the epochs after the first, which pays for tracing), the
seconds for the whole `--epochs`, and the val accuracy they reach. The choice
printed last is the rule behind `--batch-size`'s default: the fastest batch size
whose val accuracy is within `--tolerance` points of the best one's, since a
Hyperband budget is counted in epochs and a larger batch makes fewer updates of
each one.

    python scripts/bench_batch.py [--data digits npz:/tmp/glyphs28_split.npz ...]
        [--batch-sizes 16 32 64 128 256] [--epochs 4] [--repeats 2] [--json PATH]
"""

import argparse
import warnings
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import keras_tuner  # noqa: E402

import bench_record  # noqa: E402
from search.data import load  # noqa: E402
from spaces.bridge_net import HyperBridgeNet  # noqa: E402


class EpochTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)

    def on_train_begin(self, logs=None):
        self.seconds = []


def mid_space_model(data):
    """The same architecture for every batch size: mid-space values of the default space."""
    space = HyperBridgeNet(data.input_shape, data.num_classes, data.pixel_max,
                           bridge="concat", residual_blocks=2, dense_units=64,
                           augment="none")
    return space.build(keras_tuner.HyperParameters())


def train_once(data, batch_size, epochs, seed):
    keras.utils.set_random_seed(seed)
    model = mid_space_model(data)
    timer = EpochTimes()
    started = time.perf_counter()
    history = model.fit(data.pipeline("train", batch_size, seed), epochs=epochs,
                        validation_data=data.pipeline("val", 256, seed), verbose=0,
                        callbacks=[timer])
    total = time.perf_counter() - started
    steady = statistics.median(timer.seconds[1:]) if epochs > 1 else timer.seconds[0]
    keras.backend.clear_session()
    return {"images_per_s": len(data.y_train) / steady, "seconds": total,
            "val_accuracy": history.history["val_accuracy"][-1]}


def measure(data, batch_sizes, epochs, repeats):
    runs = {size: [] for size in batch_sizes}
    for repeat in range(repeats):
        order = batch_sizes if repeat % 2 == 0 else batch_sizes[::-1]
        for size in order:
            runs[size].append(train_once(data, size, epochs, seed=repeat))
    return {size: {key: statistics.mean(run[key] for run in found) for key in found[0]}
            for size, found in runs.items()}


def choose(results, tolerance):
    """The fastest batch size within `tolerance` points of the best val accuracy."""
    best = max(row["val_accuracy"] for row in results.values())
    near = {size: row for size, row in results.items()
            if row["val_accuracy"] >= best - tolerance / 100}
    return max(near, key=lambda size: near[size]["images_per_s"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=1.0,
                        help="val accuracy points a faster batch size may lose")
    bench_record.add_option(parser, "batch-size")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*shuffle=True.*")
    figures = {}
    for spec in args.data:
        data = load(spec)
        results = measure(data, args.batch_sizes, args.epochs, args.repeats)
        chosen = choose(results, args.tolerance)
        shape = "x".join(str(d) for d in data.input_shape)
        print(f"\n{spec} ({shape}, {len(data.y_train)} training images), "
              f"{args.epochs} epochs, mean of {args.repeats}:")
        print(f"{'batch':>6} {'images/s':>9} {'vs 32':>6} {'seconds':>8} {'val acc':>8}")
        for size, row in results.items():
            ratio = row["images_per_s"] / results[32]["images_per_s"] if 32 in results else 1
            print(f"{size:>6} {row['images_per_s']:>9.0f} {ratio:>6.2f} "
                  f"{row['seconds']:>8.1f} {row['val_accuracy']:>8.4f}")
        print(f"chosen: {chosen} (fastest within {args.tolerance} points of the best)")
        figures[spec] = {"shape": shape, "chosen": chosen,
                         "by_batch_size": {str(size): row for size, row in results.items()}}
    bench_record.write(args.record_path, "batch-size", "Training batch size: throughput "
                       "against accuracy", figures)


if __name__ == "__main__":
    main()
