"""Data adapters by name: each yields :class:`~cxrvlp.data.study.Study` records from a data set in its own layout."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator

from cxrvlp.data import (
    chexpert,
    covid_chestxray,
    covidx,
    nih_cxr14,
    rsna_pneumonia,
    shared_covid,
    shared_lungs,
    siim_acr,
)
from cxrvlp.data.chexpert import CHEXPERT_14
from cxrvlp.data.iu_xray import read_iu_xray
from cxrvlp.data.mimic_cxr import SkipLog, read_mimic_cxr
from cxrvlp.data.phantom import read_phantom
from cxrvlp.data.prepared.reader import prepared_label_names, read_prepared
from cxrvlp.data.study import Study

PHANTOM_FINDINGS = ("cardiomegaly", "pleural_effusion", "pneumothorax", "consolidation", "nodule", "mass",
                    "atelectasis", "edema", "retrocardiac_opacity", "support_devices")


@dataclass(frozen=True)
class Adapter:
    read: Callable[..., Iterator[Study]]  # read(root, splits=..., skips=...)
    label_names: tuple[str, ...]
    labels_from_root: Callable[[str], tuple[str, ...]] | None = None  # when the names depend on the data folder

    def labels_for(self, root: str) -> tuple[str, ...]:
        return self.labels_from_root(root) if self.labels_from_root else self.label_names


ADAPTERS: dict[str, Adapter] = {
    "mimic_cxr": Adapter(read_mimic_cxr, CHEXPERT_14),
    "phantom": Adapter(read_phantom, PHANTOM_FINDINGS),
    "prepared": Adapter(read_prepared, (), labels_from_root=prepared_label_names),  # `cxrvlp data prepare` output
    # public releases in their official layouts (docs/datasets.md)
    "iu_xray": Adapter(read_iu_xray, ()),
    "chexpert": Adapter(chexpert.read_chexpert, CHEXPERT_14),
    "nih_cxr14": Adapter(nih_cxr14.read_nih_cxr14, nih_cxr14.LABELS),
    "rsna_pneumonia": Adapter(rsna_pneumonia.read_rsna_pneumonia, rsna_pneumonia.LABELS),
    "siim_acr": Adapter(siim_acr.read_siim_acr, siim_acr.LABELS),
    "covidx": Adapter(covidx.read_covidx, covidx.LABELS),
    "covid_chestxray": Adapter(covid_chestxray.read_covid_chestxray, covid_chestxray.LABELS),
    # the folders of ../shared/data
    "covid_cxr_notes": Adapter(shared_covid.read_covid_cxr_notes, covid_chestxray.LABELS),
    "covid_cxr_segmentations": Adapter(shared_covid.read_covid_cxr_segmentations, covid_chestxray.LABELS),
    "covid_cxr_v7_lungs": Adapter(shared_covid.read_covid_cxr_v7_lungs, ()),
    "iu_xray_reports": Adapter(partial(read_iu_xray, require_images=False), ()),  # reports only, no images
    "jsrt_lungs": Adapter(shared_lungs.read_jsrt_lungs, shared_lungs.JSRT_LABELS),
    "montgomery_lungs": Adapter(shared_lungs.read_montgomery_lungs, shared_lungs.TB_LABELS),
    "shenzhen_tb": Adapter(shared_lungs.read_shenzhen_tb, shared_lungs.TB_LABELS),
}


def get_adapter(name: str) -> Adapter:
    if name not in ADAPTERS:
        raise KeyError(f"unknown data adapter {name!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[name]


def load_studies(name: str, root: str, splits: tuple[str, ...]) -> tuple[list[Study], SkipLog]:
    skips = SkipLog()
    return list(get_adapter(name).read(root, splits=splits, skips=skips)), skips
