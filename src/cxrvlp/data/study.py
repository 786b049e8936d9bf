"""The one record every data adapter yields: an imaging study with its views, report and optional annotations.

Adapters (MIMIC-CXR-JPG layout, phantom, real datasets) produce :class:`Study` objects; the torch dataset in
``cxrvlp.data.dataset`` turns them into tensors. Nothing below this module knows about file layouts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

FRONTAL_VIEWS = frozenset({"PA", "AP", "FRONTAL", "AP AXIAL", "PA LLD", "PA RLD", "AP LLD", "AP RLD"})
LATERAL_VIEWS = frozenset({"LATERAL", "LL", "RL", "LAO", "RAO", "LPO"})
SPLITS = ("train", "validate", "test")


def view_kind(view: str) -> str:
    """Map a DICOM ViewPosition code to ``"frontal"``, ``"lateral"`` or ``"other"``."""
    code = (view or "").strip().upper()
    if code in FRONTAL_VIEWS:
        return "frontal"
    if code in LATERAL_VIEWS:
        return "lateral"
    return "other"


@dataclass
class Box:
    """An axis-aligned box in pixel coordinates of the image it belongs to: ``x0, y0, x1, y1`` (exclusive end)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class ImageRecord:
    """One radiograph of a study."""

    path: Path
    view: str  # DICOM ViewPosition code, e.g. "PA", "AP", "LATERAL", "LL"
    image_id: str = ""  # dicom_id in MIMIC-CXR
    boxes: list[Box] = field(default_factory=list)
    masks: dict[str, Path] = field(default_factory=dict)  # label -> binary mask image (same size as the image)

    @property
    def kind(self) -> str:
        return view_kind(self.view)


@dataclass
class Study:
    """One imaging study: frontal and lateral images, report sections and optional labels.

    ``labels`` maps an observation name to 1.0 (positive), 0.0 (negative), -1.0 (uncertain); a missing key means
    "not mentioned". ``sections`` maps an upper-case section name (``FINDINGS``, ``IMPRESSION``, ...) to its text.
    """

    patient_id: str
    study_id: str
    split: str
    frontal: list[ImageRecord] = field(default_factory=list)
    lateral: list[ImageRecord] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    labels: dict[str, float] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"study {self.study_id}: split {self.split!r} is not one of {SPLITS}")
        for img in self.frontal:
            if img.kind != "frontal":
                raise ValueError(f"study {self.study_id}: {img.path} has view {img.view!r}, not a frontal view")
        for img in self.lateral:
            if img.kind != "lateral":
                raise ValueError(f"study {self.study_id}: {img.path} has view {img.view!r}, not a lateral view")

    @property
    def has_lateral(self) -> bool:
        return bool(self.lateral)

    def report_text(self, sections: tuple[str, ...] = ("FINDINGS", "IMPRESSION")) -> str:
        """The text used for pre-training: the named sections in order, joined; falls back to all sections."""
        parts = [self.sections[s].strip() for s in sections if self.sections.get(s, "").strip()]
        if not parts:
            parts = [t.strip() for t in self.sections.values() if t.strip()]
        return " ".join(parts)
