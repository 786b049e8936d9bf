"""Adapters for the lung-mask folders of ../shared/data (each folder's README gives its schema and sources).

- ``jsrt_lungs``: JSRT (Shiraishi et al., AJR 2000) at 224 px with the SCR hand-drawn label maps (van Ginneken et al.
  2006) remapped to 0 background / 1 right lung / 2 left lung / 3 heart: ``masks["scr"]`` with those values in
  ``meta["mask_values"]``. Labels ``Nodule`` and ``Malignant Nodule``. Split: HybridGNet's file lists
  (``split_hybridgnet``; the one image it discarded is counted as skipped), or a patient hash with
  ``split_source="hash"``.
- ``montgomery_lungs`` and ``shenzhen_tb`` (NLM, Jaeger et al. 2014; the same CSV schema): ``Tuberculosis`` from the
  official file-name suffix, manual lung masks ``masks["lung"]`` and derived left/right label maps
  ``masks["lung_lr"]`` (1 = the patient's right lung); 96 Shenzhen images have no mask and are yielded for
  classification without one. Split: patient hash (one image per patient).

None of them records the projection; all are frontal chest films, so the view is ``FRONTAL``. No text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import DEFAULT_FRACTIONS, official_split, patient_split
from cxrvlp.data.study import Study
from cxrvlp.data.tables import is_blank, locate, read_rows

JSRT = "jsrt_lungs (../shared/data)"
SCR_VALUES = {"right_lung": 1, "left_lung": 2, "heart": 3}
LUNG_LR_VALUES = {"right_lung": 1, "left_lung": 2}
JSRT_LABELS = ("Nodule", "Malignant Nodule")
TB_LABELS = ("Tuberculosis",)
_TB_COLUMNS = {"image_id", "image_path", "tb_label", "mask_path", "mask_lr_path"}


def read_jsrt_lungs(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                    skips: SkipLog | None = None, split_source: str = "hybridgnet", seed: int = 0,
                    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Iterator[Study]:
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    if split_source not in ("hybridgnet", "hash"):
        raise ValueError(f"split_source must be 'hybridgnet' or 'hash', got {split_source!r}")
    csv_path = locate(root, "jsrt_lungs.csv", JSRT)
    required = {"image_id", "image_path", "mask_path", "has_nodule", "state", "split_hybridgnet"}
    for line, row in read_rows(csv_path, required, JSRT, skips=skips):
        where = f"{csv_path.name}:{line}"
        if split_source == "hybridgnet":
            split = official_split(row["split_hybridgnet"])
            if split is None:
                skips.add("image outside the HybridGNet split", f"{where} ({row['split_hybridgnet']!r})")
                continue
        else:
            split = patient_split(row["image_id"], seed, fractions)
        if split not in splits:
            continue
        nodule = row["has_nodule"] == "1"
        labels = {"Nodule": float(nodule), "Malignant Nodule": float(row["state"] == "malignant")}
        meta = {"mask_values": {"scr": SCR_VALUES},
                **{k: row.get(k, "") for k in ("state", "diagnosis", "position", "subtlety", "nodule_size_mm",
                                                "nodule_x", "nodule_y", "age", "sex")}}
        study = _single_image_study(root, row, where, split, skips, {"scr": row["mask_path"]}, labels, meta)
        if study is not None:
            yield study


def read_nlm_tb(release: str, csv_name: str):
    """The reader for one of the two NLM TB folders (Montgomery, Shenzhen), which share one CSV schema."""

    def read(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"), skips: SkipLog | None = None,
             seed: int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Iterator[Study]:
        root = Path(root)
        skips = skips if skips is not None else SkipLog()
        csv_path = locate(root, csv_name, release)
        for line, row in read_rows(csv_path, _TB_COLUMNS, release, skips=skips):
            where = f"{csv_path.name}:{line}"
            if row["tb_label"] not in ("0", "1"):
                skips.add("TB label not 0 or 1", f"{where} ({row['tb_label']!r})")
                continue
            split = patient_split(row["image_id"], seed, fractions)
            if split not in splits:
                continue
            study = _single_image_study(root, row, where, split, skips,
                                        {"lung": row["mask_path"], "lung_lr": row["mask_lr_path"]},
                                        {"Tuberculosis": float(row["tb_label"])},
                                        {"mask_values": {"lung_lr": LUNG_LR_VALUES}})
            if study is not None:
                yield study

    read.__name__ = f"read_{csv_name.removesuffix('.csv')}"
    read.__doc__ = f"One study per image of {release}: Tuberculosis label, lung and left/right masks where drawn."
    return read


read_montgomery_lungs = read_nlm_tb("montgomery_lungs (../shared/data)", "montgomery_lungs.csv")
read_shenzhen_tb = read_nlm_tb("shenzhen_tb (../shared/data)", "shenzhen_tb.csv")


def _single_image_study(root: Path, row: dict[str, str], where: str, split: str, skips: SkipLog,
                        mask_columns: dict[str, str], labels: dict[str, float], meta: dict) -> Study | None:
    masks = {name: root / rel for name, rel in mask_columns.items() if not is_blank(rel)}
    ref = ImageRef(root / row["image_path"], "FRONTAL", image_id=row["image_id"], where=where, masks=masks)
    return assemble_study([ref], skips, patient_id=row["image_id"], study_id=row["image_id"], split=split,
                          where=where, labels=labels, meta=meta)
