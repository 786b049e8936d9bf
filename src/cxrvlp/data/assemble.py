"""Rows of a release → one :class:`Study`: view codes normalised, files checked, problems counted with file:line.

Every adapter lists a study's images as :class:`ImageRef` (path, the view as the release writes it, where the row
is) and calls :func:`assemble_study`, so the rules are the same everywhere: an unknown view code, a missing or
truncated image or a missing mask file is counted in the :class:`SkipLog` and left out; a study left without a
frontal image (when one is required) or without report text (when one is required) is counted and not yielded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cxrvlp.data.image_files import image_problem
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.study import Box, ImageRecord, Study, view_kind

# Release spellings → the DICOM ViewPosition codes of cxrvlp.data.study. "FRONTAL" is a frontal view whose AP/PA
# direction the release does not record (IU X-Ray "Frontal", CheXpert frontal rows without AP/PA, JSRT...).
_VIEW_CODES = {
    "FRONTAL": "FRONTAL", "FRONT": "FRONTAL",
    "LATERAL": "LATERAL", "LAT": "LATERAL", "L": "LATERAL",
    "AP SUPINE": "AP", "AP ERECT": "AP", "AP SEMI ERECT": "AP", "AP UPRIGHT": "AP", "AP PORTABLE": "AP",
    "POSTEROANTERIOR": "PA", "ANTEROPOSTERIOR": "AP",
}


def normalise_view(raw: str | None) -> str:
    """``"AP Supine"`` → ``AP``, ``"L"``/``"LAT"``/``"Lateral"`` → ``LATERAL``, ``"Frontal"`` → ``FRONTAL``.

    DICOM codes (``PA``, ``AP``, ``LL``, ``RL``...) pass through upper-cased; anything else stays as it is and
    counts as unknown.
    """
    code = " ".join((raw or "").replace("_", " ").replace("-", " ").split()).upper()
    return _VIEW_CODES.get(code, code)


@dataclass
class ImageRef:
    """An image as a release lists it, before any check."""

    path: Path
    view: str  # as the release writes it; normalised by normalise_view
    image_id: str = ""
    where: str = ""  # "file:line" of the row that names the image
    boxes: list[Box] = field(default_factory=list)
    masks: dict[str, Path] = field(default_factory=dict)


def assemble_study(refs: list[ImageRef], skips: SkipLog, *, patient_id: str, study_id: str, split: str,
                   where: str, sections: dict[str, str] | None = None, labels: dict[str, float] | None = None,
                   meta: dict | None = None, require_frontal: bool = True,
                   require_report: bool | tuple[str, ...] = False, check_files: bool = True) -> Study | None:
    """Build one :class:`Study`, or count why not and return ``None``. ``where`` locates the study for messages.

    ``require_report=True`` asks for any report text; a tuple of section names asks for one of those sections
    (IU X-Ray: an indication alone is not a report).
    """
    frontal: list[ImageRecord] = []
    lateral: list[ImageRecord] = []
    for ref in refs:
        view = normalise_view(ref.view)
        kind = view_kind(view)
        if kind == "other":
            skips.add("unknown view code", f"{ref.where} ({ref.view!r})")
            continue
        problem = image_problem(ref.path) if check_files else None
        if problem:
            skips.add(problem, f"{ref.path} ({ref.where})" if ref.where else str(ref.path))
            continue
        masks = {}
        for name, mask in ref.masks.items():
            if check_files and image_problem(mask):
                skips.add("missing or broken mask file", f"{mask} ({ref.where})")
            else:
                masks[name] = mask
        record = ImageRecord(path=ref.path, view=view, image_id=ref.image_id, boxes=list(ref.boxes), masks=masks)
        (frontal if kind == "frontal" else lateral).append(record)
    if require_frontal and not frontal:
        skips.add("study without a usable frontal image", where)
        return None
    study = Study(patient_id=patient_id, study_id=study_id, split=split, frontal=frontal, lateral=lateral,
                  sections=dict(sections or {}), labels=dict(labels or {}), meta=dict(meta or {}))
    if isinstance(require_report, tuple):
        has_report = any(study.sections.get(name, "").strip() for name in require_report)
    else:
        has_report = not require_report or bool(study.report_text().strip())
    if not has_report:
        skips.add("study without report text", where)
        return None
    return study
