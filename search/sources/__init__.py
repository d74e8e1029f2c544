"""Data sources behind `--data`: each turns what the user points at into split
arrays via `search.data.make_image_data`, raising `UsageError` (exit 2, one
line) for anything it cannot use. Imported lazily: `tfds` is slow to import."""
