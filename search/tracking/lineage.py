"""Dataset lineage with MLflow's own `mlflow.data`: the splits a search trains,
validates and tests on, logged as run inputs so the UI's Datasets column names
the data (source, digest, shape) of the search and of every trial.

MLflow computes each split's digest from its arrays, so two searches on the same
pixels show the same digest whatever the path they were read from.
"""

from pathlib import Path

import mlflow.data
from mlflow.data.dataset_source import DatasetSource
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

SPLIT_CONTEXTS = {"train": "training", "val": "validation", "test": "testing"}


class DataSource(DatasetSource):
    """MLflow's source record of a search's data (see `source_uri`). Built only
    from `--data`, never guessed from a string, and never loaded by MLflow:
    bridge-search reads the data itself."""

    def __init__(self, uri):
        self.uri = uri

    @staticmethod
    def _get_source_type():
        return "local"

    def load(self, dst_path=None):
        raise NotImplementedError("bridge-search reads its data itself (search.data.load)")

    @staticmethod
    def _can_resolve(raw_source):
        return False

    @classmethod
    def _resolve(cls, raw_source):
        return cls(str(raw_source))

    def to_dict(self):
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict):
        return cls(source_dict["uri"])


def source_uri(spec):
    """Where the pixels came from: the absolute path for `npz:`/`folder:`, the spec
    itself for `digits` (bundled with scikit-learn) and `tfds:NAME` (read from the
    local TFDS directory; MLflow has no source type for TFDS)."""
    kind, _, argument = spec.partition(":")
    if kind in ("npz", "folder"):
        return str(Path(argument).expanduser().resolve())
    return spec


def split_inputs(image_data, splits=("train", "val", "test")):
    """One `DatasetInput` per split that exists, tagged with its context."""
    source = DataSource(source_uri(image_data.source))
    inputs = []
    for split in splits:
        images = getattr(image_data, f"x_{split}")
        if images is None:
            continue
        dataset = mlflow.data.from_numpy(images, source=source, name=image_data.source,
                                         targets=getattr(image_data, f"y_{split}"))
        fields = dataset.to_dict()
        entity = Dataset(name=fields["name"], digest=fields["digest"],
                         source_type=fields["source_type"], source=fields["source"],
                         schema=fields.get("schema"), profile=fields.get("profile"))
        inputs.append(DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT,
                                                          SPLIT_CONTEXTS[split])]))
    return inputs
