"""Is the input pipeline the bottleneck? Training steps/s fed three ways, one run:

  real pipeline   the search's own input: files decoded once at load, then
                  ImageData.pipeline (cache, shuffle, batch, cast, prefetch)
  in memory       the same batches, already materialised as tensors (a cache of
                  the pipeline's final batches, filled before timing)
  decode/epoch    keras' image_dataset_from_directory read straight from the files
                  every epoch (what a search would pay per trial without decode-once)

The ratio real / in memory near 1.0 means the pipeline keeps the model fed.
Epochs of the three feeds are interleaved and repeated; the best (least
disturbed) and the median epoch are reported, so a shared, loaded machine
still gives comparable figures within one run.

    python scripts/bench_input.py                         # PNG folder made from digits
    python scripts/bench_input.py --data folder:PATH --image-size 64 64
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import spaces  # noqa: E402
from search import data  # noqa: E402

import bench_record  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.steps_per_second = self.steps / (time.perf_counter() - self.start)


def write_digit_pngs(folder, size):
    """sklearn's 1,797 digits, upscaled to size x size RGB PNG files, class folders."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    images = tf.image.resize(bunch.images[..., None] * (255 / 16), (size, size)).numpy()
    for index, (image, label) in enumerate(zip(images, bunch.target)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        rgb = np.repeat(image.round().clip(0, 255).astype("uint8"), 3, axis=-1)
        keras.utils.save_img(folder / str(label) / f"{index:04d}.png", rgb, scale=False)


def steps_per_second(model, dataset):
    timer = EpochTimer()
    model.fit(dataset, epochs=1, verbose=0, callbacks=[timer])
    return timer.steps_per_second


def batches_per_second(dataset):
    start, count = time.perf_counter(), 0
    for _ in dataset:
        count += 1
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder:PATH (default: a PNG folder made from digits)")
    parser.add_argument("--size", type=int, default=32, help="side of the generated PNGs")
    parser.add_argument("--image-size", type=int, nargs=2, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    bench_record.add_option(parser, "input")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        spec = args.data
        if spec is None:
            write_digit_pngs(Path(tmp) / "digits", args.size)
            spec = f"folder:{Path(tmp) / 'digits'}"
        start = time.perf_counter()
        image_data = data.load(spec, image_size=args.image_size)
        decode_seconds = time.perf_counter() - start
        folder = spec.partition(":")[2]
        height, width, channels = image_data.input_shape
        per_epoch = keras.utils.image_dataset_from_directory(
            folder, batch_size=args.batch_size, image_size=(height, width),
            color_mode="grayscale" if channels == 1 else "rgb", shuffle=True, seed=0,
            verbose=False).prefetch(data.AUTOTUNE)
        report(args, image_data, decode_seconds, per_epoch)


def report(args, image_data, decode_seconds, per_epoch):
    real = image_data.pipeline("train", args.batch_size, seed=0)
    # The pipeline's own final batches, kept in memory after one pass: same tensors,
    # same element spec (so the same traced train step), no per-step input work.
    in_memory = real.cache()
    for _ in in_memory:
        pass
    hypermodel = spaces.load_space("bridge", image_data.input_shape, image_data.num_classes,
                                   image_data.pixel_max)
    model = hypermodel.build(keras_tuner.HyperParameters())  # the space's first model
    feeds = {"real pipeline": real, "in memory": in_memory, "decode/epoch": per_epoch}
    speeds = measure(model, feeds, args.repeats)
    alone = max(batches_per_second(real) for _ in range(args.repeats))
    print_table(args, image_data, model, decode_seconds, alone, speeds)


def measure(model, feeds, repeats):
    """{feed: [steps/s of each epoch]}, the feeds' epochs interleaved so that load
    on a shared machine falls on all of them alike."""
    for dataset in feeds.values():
        steps_per_second(model, dataset)  # warm-up: tracing, first cache fill
    speeds = {name: [] for name in feeds}
    for _ in range(repeats):
        for name, dataset in feeds.items():
            speeds[name].append(steps_per_second(model, dataset))
    return speeds


def print_table(args, image_data, model, decode_seconds, alone, speeds):
    best = {name: max(values) for name, values in speeds.items()}
    median = {name: statistics.median(values) for name, values in speeds.items()}
    n = len(image_data.y_train)
    decoded = sum(len(y) for y in (image_data.y_train, image_data.y_val, image_data.y_test)
                  if y is not None)
    print(f"input benchmark: {n} train images {'x'.join(map(str, image_data.input_shape))} "
          f"from {image_data.source}, batch {args.batch_size}, "
          f"{math.ceil(n / args.batch_size)} steps/epoch, model '{model.name}' "
          f"({model.count_params():,} params), device "
          f"{'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, "
          f"{args.repeats} interleaved epochs per feed")
    print(f"  decode once at load          {decode_seconds:8.2f} s "
          f"({decoded} files, {decoded / decode_seconds:,.0f} images/s)")
    print(f"  pipeline alone (no model)    {alone:8.1f} batches/s (best)")
    print(f"  {'training steps/s':<28} {'best':>8} {'median':>8}")
    for name in speeds:
        print(f"  {name:<28} {best[name]:8.1f} {median[name]:8.1f}")
    for other in ("in memory", "decode/epoch"):
        print(f"  {'ratio real / ' + other:<28} {best['real pipeline'] / best[other]:8.2f} "
              f"{median['real pipeline'] / median[other]:8.2f}")
    bench_record.write(args.record_path, "input", "Input pipeline", {
        "input_shape": image_data.input_shape, "decode_seconds": decode_seconds,
        "pipeline_alone_batches_per_s": alone, "steps_per_s_best": best,
        "steps_per_s_median": median})

if __name__ == "__main__":
    main()
