"""Adapter for IU X-Ray / Open-i, the Indiana University chest X-ray collection (Demner-Fushman et al., JAMIA 2016).

Three official layouts, detected from the files present (``layout="auto"``):

- **Kaggle** ``raddar/chest-xrays-indiana-university``: ``indiana_reports.csv`` (uid, MeSH, Problems, image,
  indication, comparison, findings, impression) + ``indiana_projections.csv`` (uid, filename, projection:
  Frontal|Lateral) + ``images/images_normalized/<uid>_IM-xxxx-yyyy.dcm.png``;
- **R2Gen** (Chen et al., EMNLP 2020) ``iu_xray/annotation.json`` ``{"train"|"val"|"test": [{id, report,
  image_path, split}]}`` + ``images/<id>/0.png, 1.png``. Some copies name the test list ``"    "`` (four spaces)
  instead of ``"test"``; every entry's own ``split`` field is therefore read first;
- **Open-i** (NLM) ``ecgen-radiology/<n>.xml`` (``AbstractText Label="FINDINGS"|"IMPRESSION"|...``, ``MeSH/major``,
  ``parentImage id="CXR<uid>_IM-xxxx-yyyy"``) + ``NLMCXR_png/<parentImage id>.png``.

The report uid is the patient id (one report per patient). The split is R2Gen's where an ``annotation.json`` is
found (studies R2Gen left out go to ``train``, so R2Gen's validation and test sets stay exactly theirs), else a
patient-hash split. Images are found by file name anywhere below ``images_root``; when the images are not there
(e.g. the reports-only copy in ../shared/data/iu_xray_reports) studies are counted as skipped unless the caller asks
for report-only studies with ``require_images=False``.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.image_files import FileIndex
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import DEFAULT_FRACTIONS, official_split, patient_split
from cxrvlp.data.study import Study
from cxrvlp.data.tables import find_optional, read_rows, text_cell
from cxrvlp.text.sections import sections_from_fields

KAGGLE = "IU X-Ray (Kaggle raddar/chest-xrays-indiana-university)"
R2GEN = "IU X-Ray (R2Gen annotation.json)"
OPENI = "IU X-Ray (Open-i ecgen-radiology XML)"
REPORT_FIELDS = ("findings", "impression", "indication", "comparison", "image")
REPORT_SECTIONS = ("FINDINGS", "IMPRESSION")  # a study needs one of them
_IM = re.compile(r"IM-\d+-\d+")
_R2GEN_UID = re.compile(r"^CXR(\d+)")


def read_iu_xray(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                 skips: SkipLog | None = None, layout: str = "auto", require_images: bool = True,
                 images_root: str | Path | None = None, seed: int = 0,
                 fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Iterator[Study]:
    """Yield IU X-Ray studies from the Kaggle, R2Gen or Open-i layout (see the module docstring)."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    files = _find_layout_files(root)
    if layout == "auto":
        layout = next((name for name in ("kaggle", "r2gen", "openi") if files[name]), "")
        if not layout:
            raise FileNotFoundError(f"{root}: found no IU X-Ray layout: expected indiana_reports.csv (Kaggle), "
                                    "annotation.json (R2Gen) or ecgen-radiology/*.xml (Open-i) here or one "
                                    "folder below")
    if layout not in ("kaggle", "r2gen", "openi") or not files[layout]:
        raise FileNotFoundError(f"{root}: layout {layout!r} not found here (files for: "
                                f"{[k for k, v in files.items() if v and k != 'projections']})")
    ctx = _Context(root, Path(images_root) if images_root else root, skips, require_images, seed, fractions,
                   files["r2gen"] if layout != "r2gen" else None, files["projections"])
    studies = {"kaggle": _kaggle_studies, "r2gen": _r2gen_studies, "openi": _openi_studies}[layout](ctx, files[layout])
    for study in studies:
        if study.split in splits:
            yield study


class _Context:
    """What the three layout readers share: the image index, projections, the split rule and the skip log."""

    def __init__(self, root, images_root, skips, require_images, seed, fractions, annotation, projections_csv):
        self.root, self.skips, self.require_images = root, skips, require_images
        self.seed, self.fractions = seed, fractions
        self.images = FileIndex(images_root)
        self.r2gen_split = ({_r2gen_uid(e.get("id", "")): s for _, s, e in _r2gen_entries(annotation, skips) if s}
                            if annotation else {})
        self.projections_csv = projections_csv
        self.projection_rows = (read_rows(projections_csv, {"uid", "filename", "projection"}, KAGGLE, skips=skips)
                                if projections_csv else [])
        self.projection = {(row["uid"], _im_key(row["filename"])): row["projection"] for _, row in self.projection_rows}

    def split(self, uid: str) -> tuple[str, str]:
        if self.r2gen_split:
            return self.r2gen_split.get(uid, "train"), "r2gen" if uid in self.r2gen_split else "not in r2gen"
        return patient_split(uid, self.seed, self.fractions), "patient hash"

    def image(self, names: list[str], expected_in: str) -> Path:
        """The first of ``names`` found below the images root, else where the release would put the first."""
        for name in names:
            found = self.images.get(name)
            if found is not None:
                return found
        return self.images.root / expected_in / names[0]

    def study(self, uid: str, refs: list[ImageRef], where: str, sections: dict, meta: dict) -> Study | None:
        split, source = self.split(uid)
        return assemble_study(refs, self.skips, patient_id=uid, study_id=uid, split=split, where=where,
                              sections=sections, meta={**meta, "split_source": source},
                              require_frontal=self.require_images, require_report=REPORT_SECTIONS)


def _kaggle_studies(ctx: _Context, reports_csv: Path) -> Iterator[Study]:
    if ctx.projections_csv is None:
        raise FileNotFoundError(f"{reports_csv.parent}: indiana_projections.csv missing beside {reports_csv.name}")
    images_of: dict[str, list[ImageRef]] = defaultdict(list)
    for line, row in ctx.projection_rows:
        uid, name = row["uid"], row["filename"]
        path = ctx.image(_image_names(uid, name), "images/images_normalized")
        images_of[uid].append(ImageRef(path, row["projection"], image_id=name,
                                       where=f"{ctx.projections_csv.name}:{line}"))
    for line, row in read_rows(reports_csv, {"uid", "MeSH", "Problems", *REPORT_FIELDS}, KAGGLE, skips=ctx.skips):
        uid = row["uid"]
        sections = sections_from_fields({f: text_cell(row, f) for f in REPORT_FIELDS})
        meta = {"mesh": _terms(text_cell(row, "MeSH")), "problems": _terms(text_cell(row, "Problems"))}
        study = ctx.study(uid, images_of.get(uid, []), f"{reports_csv.name}:{line}", sections, meta)
        if study is not None:
            yield study


def _openi_studies(ctx: _Context, xml_dir: Path) -> Iterator[Study]:
    for xml in sorted(xml_dir.glob("*.xml")):
        try:
            doc = ET.parse(xml).getroot()
        except ET.ParseError as e:
            ctx.skips.add("unreadable XML report", f"{xml}:{e.position[0]} ({e})")
            continue
        uid_el = doc.find(".//IUXRId")
        uid = uid_el.get("id") if uid_el is not None and uid_el.get("id") else xml.stem
        fields = {(el.get("Label") or "").lower(): (el.text or "") for el in doc.iter("AbstractText")}
        sections = sections_from_fields({f: fields.get(f, "") for f in REPORT_FIELDS})
        refs = []
        for el in doc.iter("parentImage"):
            image_id = el.get("id", "")
            projection = ctx.projection.get((uid, _im_key(image_id)), "")
            hint = "" if projection else " (no projection: put indiana_projections.csv beside the XML folder)"
            refs.append(ImageRef(ctx.image([f"{image_id}.png", *_image_names(uid, image_id)], "NLMCXR_png"), projection,
                                 image_id=image_id, where=f"{xml.name}:parentImage {image_id}{hint}"))
        meta = {"mesh": [m.text.strip() for m in doc.iter("major") if m.text and m.text.strip()]}
        study = ctx.study(uid, refs, str(xml.name), sections, meta)
        if study is not None:
            yield study


def _r2gen_studies(ctx: _Context, annotation: Path) -> Iterator[Study]:
    for where, split, entry in _r2gen_entries(annotation, ctx.skips):
        if split is None:
            continue
        rid = str(entry.get("id", ""))
        uid = _r2gen_uid(rid) or rid
        # R2Gen records no projection; its loaders read image_path[0] and [1] as the frontal and lateral pair.
        refs = [ImageRef(_first_existing([ctx.images.root / "images" / p, ctx.images.root / p]),
                         "FRONTAL" if k == 0 else "LATERAL", image_id=p, where=where)
                for k, p in enumerate(entry.get("image_path") or [])]
        sections = sections_from_fields({"findings": text_cell({"report": str(entry.get("report") or "")}, "report")})
        study = assemble_study(refs, ctx.skips, patient_id=uid, study_id=uid, split=split, where=where,
                               sections=sections, meta={"r2gen_id": rid, "split_source": "r2gen",
                                                        "view_source": "r2gen image order"},
                               require_frontal=ctx.require_images, require_report=REPORT_SECTIONS)
        if study is not None:
            yield study


def _r2gen_entries(annotation: Path, skips: SkipLog) -> Iterator[tuple[str, str | None, dict]]:
    try:
        data = json.loads(annotation.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{annotation}, line {e.lineno}: not valid JSON ({e.msg}); expected the {R2GEN} file") from e
    if not isinstance(data, dict):
        raise ValueError(f"{annotation}: expected a JSON object of split lists; got {type(data).__name__}")
    for key, entries in data.items():
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            where = f"{annotation.name}:{key!r}[{i}]"
            split = official_split(entry.get("split")) or official_split(key)
            if split is None:
                skips.add("R2Gen entry without a known split", where)
            yield where, split, entry


def _find_layout_files(root: Path) -> dict[str, Path | None]:
    annotation = find_optional(root, "annotation.json")
    if annotation is None:
        candidates = sorted(root.glob("*annotation*.json")) + sorted(root.glob("*/*annotation*.json"))
        annotation = candidates[0] if candidates else None
    xml_dir = next((d for d in (root / "ecgen-radiology", root) if d.is_dir() and any(d.glob("*.xml"))), None)
    return {"kaggle": find_optional(root, "indiana_reports.csv"), "r2gen": annotation, "openi": xml_dir,
            "projections": find_optional(root, "indiana_projections.csv")}


def _first_existing(paths: list[Path]) -> Path:
    return next((p for p in paths if p.exists()), paths[0])


def _im_key(name: str) -> str:
    match = _IM.search(name)
    return match.group(0) if match else name


def _image_names(uid: str, name: str) -> list[str]:
    """File names one IU image has in the Kaggle and Open-i releases (Open-i doubles the uid of study 1)."""
    im = _im_key(name)
    names = [name] if name.endswith(".png") else []
    names += [f"{uid}_{im}.dcm.png", f"CXR{uid}_{im}.png", f"CXR{uid}_{uid}_{im}.png"]
    return list(dict.fromkeys(names))


def _r2gen_uid(r2gen_id: str) -> str:
    match = _R2GEN_UID.match(r2gen_id)
    return match.group(1) if match else ""


def _terms(cell: str) -> list[str]:
    return [t.strip() for t in cell.split(";") if t.strip()]
