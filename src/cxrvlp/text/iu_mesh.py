"""IU X-Ray (Open-i) MeSH annotations as CheXpert observations, to measure the rule labeler on real reports.

Each IU report carries MeSH-style terms written by human indexers, e.g. ``"Opacity/lung/base/left/mild"``: a
heading, then qualifiers (site, laterality, severity). :func:`mesh_observations` maps them to CheXpert
observations with the explicit tables below; terms with no CheXpert counterpart (``Calcified Granuloma``,
``Scoliosis``, ``Aorta/tortuous``, ``Surgical Instruments`` — surgical clips and sternotomy wires, which are not
support devices in CheXpert's sense — ...) map to nothing. ``"normal"`` is ``No Finding``. A report indexed
``"No Indexing"`` has no reference and is left out of the scores (and counted).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import precision_recall_fscore_support

from cxrvlp.text.labeler import ReportLabels, RuleLabeler, Status
from cxrvlp.text.lexicon import NO_FINDING, SUPPORT_DEVICES

# MeSH heading -> observation, whatever the qualifiers.
MESH_HEADINGS: dict[str, tuple[str, ...]] = {
    "normal": (NO_FINDING,),
    "Cardiomegaly": ("Cardiomegaly",),
    "Pleural Effusion": ("Pleural Effusion",),
    "Hydropneumothorax": ("Pleural Effusion", "Pneumothorax"),
    "Hemopneumothorax": ("Pleural Effusion", "Pneumothorax"),
    "Hemothorax": ("Pleural Effusion",),
    "Pneumothorax": ("Pneumothorax",),
    "Pulmonary Atelectasis": ("Atelectasis",),
    "Consolidation": ("Consolidation",),
    "Pneumonia": ("Pneumonia",),
    "Pulmonary Edema": ("Edema",),
    "Pulmonary Congestion": ("Edema",),
    "Heart Failure": ("Edema",),
    "Infiltrate": ("Lung Opacity",),
    "Airspace Disease": ("Lung Opacity",),
    "Lung Diseases, Interstitial": ("Lung Opacity",),
    "Nodule": ("Lung Lesion",),
    "Mass": ("Lung Lesion",),
    "Cavitation": ("Lung Lesion",),
    "Fractures, Bone": ("Fracture",),
    "Catheters, Indwelling": ("Support Devices",),
    "Tube, Inserted": ("Support Devices",),
    "Implanted Medical Device": ("Support Devices",),
    "Medical Device": ("Support Devices",),
    "Stents": ("Support Devices",),
}
# MeSH headings whose meaning depends on a qualifier: heading -> (qualifier, observation) pairs.
MESH_QUALIFIED: dict[str, tuple[tuple[str, str], ...]] = {
    "Cardiac Shadow": (("enlarged", "Cardiomegaly"), ("borderline", "Cardiomegaly")),
    "Mediastinum": (("prominent", "Enlarged Cardiomediastinum"), ("enlarged", "Enlarged Cardiomediastinum"),
                    ("widened", "Enlarged Cardiomediastinum")),
    "Thickening": (("pleura", "Pleural Other"),),
    # CheXpert counts increased interstitial markings as a lung opacity
    "Markings": (("interstitial", "Lung Opacity"),),
}
# "Opacity" and "Density" are lung opacities unless a qualifier puts them outside the lung.
MESH_OPACITY_HEADINGS = ("Opacity", "Density")
NON_LUNG_SITES = frozenset({"ribs", "thoracic vertebrae", "lumbar vertebrae", "spine", "clavicle", "humerus",
                            "shoulder", "breast", "soft tissue", "abdomen", "sternum", "bone and bones",
                            "mediastinum", "diaphragm", "heart", "scapula", "neck", "paratracheal"})
NOT_INDEXED = "No Indexing"


@dataclass(frozen=True)
class IUReport:
    study_id: int
    text: str  # findings and impression, joined
    mesh: tuple[str, ...]


def mesh_observations(mesh: list[str] | tuple[str, ...]) -> set[str] | None:
    """The observations a report's MeSH terms name; ``None`` when the report was not indexed."""
    found: set[str] = set()
    for term in mesh:
        heading, *qualifiers = [part.strip() for part in term.split("/")]
        if heading == NOT_INDEXED:
            return None
        found.update(MESH_HEADINGS.get(heading, ()))
        for qualifier, observation in MESH_QUALIFIED.get(heading, ()):
            if qualifier in qualifiers:
                found.add(observation)
        if heading in MESH_OPACITY_HEADINGS and not NON_LUNG_SITES.intersection(qualifiers):
            found.add("Lung Opacity")
    return found


def read_iu_reports(path: str | Path, fields: tuple[str, ...] = ("findings", "impression")) -> list[IUReport]:
    """Read ``studies.jsonl`` of the ``iu_xray_reports`` folder (one JSON object per line, see its README)."""
    path = Path(path)
    reports = []
    with path.open(encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = " ".join(str(row[k] or "").strip() for k in fields).strip()
                reports.append(IUReport(int(row["study_id"]), text, tuple(row["MeSH"])))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}:{line_number}: expected a JSON object with study_id, MeSH and "
                                 f"{', '.join(fields)} ({type(err).__name__}: {err})") from err
    return reports


def predicted_present(labels: ReportLabels, observation: str, uncertain_counts: bool = True) -> bool:
    """The labeler's call compared with a MeSH mention: positive, or uncertain when ``uncertain_counts``."""
    status = labels[observation]
    return status is Status.POSITIVE or (uncertain_counts and status is Status.UNCERTAIN)


def _scores(y_true: list[bool], y_pred: list[bool]) -> dict:
    p, r, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
    return {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f1), 4),
            "support": int(sum(y_true)), "predicted": int(sum(y_pred))}


def score_against_mesh(reports: list[IUReport], labeler: RuleLabeler | None = None,
                       progress: bool = False) -> dict:
    """Per-observation precision, recall, F1 and support of ``labeler`` against the MeSH reference.

    Reports with no reference (``No Indexing``) or no findings/impression text are left out and counted under
    ``skipped``. ``macro_f1_support_ge_20`` averages F1 over the observations with at least 20 MeSH positives.
    ``labels_positive_only`` scores the labeler's positives alone (uncertain counted as absent);
    ``no_finding_vs_no_mapped_observation`` scores No Finding against CheXpert's definition applied to the MeSH
    terms (no mapped observation other than Support Devices), rather than against the indexers' ``normal``.
    """
    labeler = labeler or RuleLabeler()
    skipped = {"not indexed": 0, "empty text": 0}
    kept, truths = [], []
    for report in reports:
        truth = mesh_observations(report.mesh)
        if truth is None:
            skipped["not indexed"] += 1
        elif not report.text:
            skipped["empty text"] += 1
        else:
            kept.append(report)
            truths.append(truth)
    labelled = labeler.label_many((r.text for r in kept), progress=progress, total=len(kept))
    per_label, positive_only = {}, {}
    for name in labeler.lexicon.observation_names:
        y_true = [name in t for t in truths]
        per_label[name] = _scores(y_true, [predicted_present(p, name) for p in labelled])
        positive_only[name] = _scores(y_true, [predicted_present(p, name, False) for p in labelled])
    # CheXpert's own No Finding: nothing but (at most) support devices among the mapped MeSH observations
    no_other = [t <= {NO_FINDING, SUPPORT_DEVICES} for t in truths]
    no_finding_chexpert = _scores(no_other, [predicted_present(p, NO_FINDING) for p in labelled])
    big = [k for k, v in per_label.items() if v["support"] >= 20]

    def macro_f1(scores: dict) -> float | None:
        return round(sum(scores[k]["f1"] for k in big) / len(big), 4) if big else None

    return {
        "reference": "IU X-Ray MeSH terms mapped to CheXpert observations (cxrvlp.text.iu_mesh)",
        "text": "findings + impression",
        "positive": "labeler positive or uncertain vs MeSH mention",
        "reports": len(kept), "skipped": skipped, "labels": per_label,
        "labels_positive_only": positive_only,
        "no_finding_vs_no_mapped_observation": no_finding_chexpert,
        "macro_f1_support_ge_20": macro_f1(per_label),
        "macro_f1_positive_only_support_ge_20": macro_f1(positive_only),
        "labels_support_ge_20": big,
    }
