"""Write a notMNIST-style letters dataset (A-J) rendered from the fonts on this
machine, as an .npz that `--data npz:PATH` reads. Offline, deterministic.

Real glyph shapes from every Latin font shipped with matplotlib and Debian's
fonts-dejavu (DejaVu Sans/Serif/Mono and their weights, Condensed, ExtraLight;
STIX; Computer Modern), upper and lower case of the same letter in one class.
Each glyph is drawn a few times with a seeded jitter of size, position and slant,
as scanned or photographed type would vary. The split is by font: validation
and test fonts are never seen in training, so the test asks "does it read a
typeface it has not seen", not "does it recall a render".

    python scripts/make_glyphs.py [--out /tmp/glyphs_split.npz] [--size 16] [--renders 3]

The 28x28 set of >= 20k images that the issue-12 benchmarks use (docs/budget.md):

    python scripts/make_glyphs.py --size 28 --renders 40 --out /tmp/glyphs28_split.npz

`--color` gives the generated 32x32 RGB set of the batch-size and race benchmarks:
each glyph in a random ink on a random, noisy two-colour gradient, so colour is a
nuisance the model must learn to ignore (ink and background keep a contrast):

    python scripts/make_glyphs.py --size 32 --renders 6 --color --out /tmp/glyphs32rgb_split.npz
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LETTERS = "ABCDEFGHIJ"
FONT_DIRS = [Path("/usr/share/fonts"),
             Path(__import__("matplotlib").get_data_path()) / "fonts" / "ttf"]
# Symbol / math-extension fonts hold no (or shuffled) Latin letters.
SKIP = ("cmex", "cmsy", "STIXNonUni", "STIXSiz", "LastResort", "MathTeX", "Display")


def font_files():
    """Latin text fonts, one per file name (matplotlib and Debian ship some twice)."""
    found = {}
    for folder in FONT_DIRS:
        for path in sorted(folder.rglob("*.[ot]tf")):
            if not any(word in path.name for word in SKIP):
                found.setdefault(path.name, path)
    return [found[name] for name in sorted(found)]


def render(font_path, char, size, rng):
    """One glyph, drawn large, jittered, then shrunk to size x size (uint8, ink=255)."""
    canvas = 64
    font = ImageFont.truetype(str(font_path), int(canvas * rng.uniform(0.6, 0.8)))
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font)
    x = (canvas - (right - left)) / 2 - left + rng.uniform(-4, 4)
    y = (canvas - (bottom - top)) / 2 - top + rng.uniform(-4, 4)
    draw.text((x, y), char, fill=255, font=font)
    image = image.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR)
    return np.asarray(image.resize((size, size), Image.LANCZOS), dtype=np.uint8)


def colorize(glyph, rng):
    """The glyph's ink as a mask over a random gradient background with noise, in a
    random ink colour at least 0.35 away in luminance (uint8 RGB)."""
    luminance = np.array([0.299, 0.587, 0.114])
    while True:
        ink, back_a, back_b = rng.uniform(0, 1, (3, 3))
        if abs((ink - (back_a + back_b) / 2) @ luminance) > 0.35:
            break
    size = glyph.shape[0]
    ramp = np.linspace(0, 1, size)[:, None, None]
    ramp = ramp if rng.random() < 0.5 else ramp.transpose(1, 0, 2)
    background = back_a + (back_b - back_a) * ramp + rng.normal(0, 0.05, (size, size, 3))
    mask = glyph[..., None] / 255.0
    image = mask * ink + (1 - mask) * background
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def is_latin(font_path):
    """A font with real letters draws A and B differently and with ink."""
    rng = np.random.default_rng(0)
    a, b = render(font_path, "A", 16, rng), render(font_path, "B", 16, rng)
    return a.max() > 0 and b.max() > 0 and not np.array_equal(a, b)


def build(size, seed, renders=3, color=False):
    rng = np.random.default_rng(seed)
    fonts = [path for path in font_files() if is_latin(path)]
    order = rng.permutation(len(fonts))
    n_test, n_val = max(2, round(0.2 * len(fonts))), max(2, round(0.15 * len(fonts)))
    groups = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
              "train": order[n_test + n_val:]}
    arrays = {}
    for split, indices in groups.items():
        images, labels = [], []
        for index in indices:
            for label, letter in enumerate(LETTERS):
                for char in (letter, letter.lower()):
                    for _ in range(renders):
                        glyph = render(fonts[index], char, size, rng)
                        images.append(colorize(glyph, rng) if color else glyph[..., None])
                        labels.append(label)
        arrays[f"x_{split}"] = np.stack(images)
        arrays[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    fonts_by_split = {split: [fonts[i].name for i in idx] for split, idx in groups.items()}
    return arrays, fonts_by_split


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/glyphs_split.npz")
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--renders", type=int, default=3,
                        help="jittered renders of each glyph (more: a bigger set)")
    parser.add_argument("--color", action="store_true",
                        help="RGB: a random ink on a random noisy gradient")
    args = parser.parse_args()
    arrays, fonts = build(args.size, args.seed, args.renders, args.color)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    for split in ("train", "val", "test"):
        print(f"{split}: {len(arrays[f'y_{split}'])} images from {len(fonts[split])} fonts: "
              f"{', '.join(fonts[split])}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
