"""Data adapters by name: each yields :class:`~cxrvlp.data.study.Study` records from a data set in its own layout."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from cxrvlp.data.mimic_cxr import SkipLog, read_mimic_cxr
from cxrvlp.data.phantom import read_phantom
from cxrvlp.data.study import Study

CHEXPERT_14 = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
               "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
               "Pneumothorax", "Support Devices")
PHANTOM_FINDINGS = ("cardiomegaly", "pleural_effusion", "pneumothorax", "consolidation", "nodule", "mass",
                    "atelectasis", "edema", "retrocardiac_opacity", "support_devices")


@dataclass(frozen=True)
class Adapter:
    read: Callable[..., Iterator[Study]]  # read(root, splits=..., skips=...)
    label_names: tuple[str, ...]


ADAPTERS: dict[str, Adapter] = {
    "mimic_cxr": Adapter(read_mimic_cxr, CHEXPERT_14),
    "phantom": Adapter(read_phantom, PHANTOM_FINDINGS),
}


def get_adapter(name: str) -> Adapter:
    if name not in ADAPTERS:
        raise KeyError(f"unknown data adapter {name!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[name]


def load_studies(name: str, root: str, splits: tuple[str, ...]) -> tuple[list[Study], SkipLog]:
    skips = SkipLog()
    return list(get_adapter(name).read(root, splits=splits, skips=skips)), skips
