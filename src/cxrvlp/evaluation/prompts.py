"""Text prompts for zero-shot classification: per finding, sentences that assert it and sentences that deny it.

The score of an image for a finding is ``mean cos(image, positive prompts) - mean cos(image, negative prompts)``.
Prompts are written in report language (the phrasing a report would use), not as class names. ``PROMPTS`` holds
every set by label name (phantom findings, covid_cxr_notes labels).
"""
from __future__ import annotations

PHANTOM_PROMPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cardiomegaly": (("The heart is enlarged.", "Cardiomegaly.", "Moderate cardiomegaly."),
                     ("Heart size is normal.", "The cardiac silhouette is normal in size.")),
    "pleural_effusion": (("Pleural effusion.", "Small left pleural effusion.", "Right pleural effusion is present."),
                         ("No pleural effusion.", "There is no pleural fluid.")),
    "pneumothorax": (("There is a pneumothorax.", "Small apical pneumothorax.", "Right pneumothorax."),
                     ("No pneumothorax.", "There is no pneumothorax.")),
    "consolidation": (("Consolidation in the lower lobe.", "Airspace consolidation.", "Focal consolidation is seen."),
                      ("No focal consolidation.", "The lungs are clear.")),
    "nodule": (("A pulmonary nodule is seen.", "Small nodule in the lung.", "There is a nodule."),
               ("No pulmonary nodules.", "The lungs are clear.")),
    "mass": (("A lung mass is seen.", "There is a large mass in the lung.", "Pulmonary mass."),
             ("No mass.", "The lungs are clear.")),
    "atelectasis": (("Atelectasis.", "Basilar atelectasis.", "There is atelectasis in the lower lung."),
                    ("No atelectasis.", "The lungs are clear.")),
    "edema": (("Pulmonary edema.", "Mild interstitial edema.", "Findings consistent with pulmonary edema."),
              ("No pulmonary edema.", "No edema.")),
    "retrocardiac_opacity": (("Retrocardiac opacity.", "There is a retrocardiac opacity in the left lower lobe."),
                             ("No retrocardiac opacity.", "The lungs are clear.")),
    "support_devices": (("Support devices are in place.", "An endotracheal tube is present.",
                         "A pacemaker with leads is seen."),
                        ("No support devices.", "No lines or tubes.")),
}

# covid_cxr_notes (clinical notes, not reports): the labels with positives in its test split.
COVID_PROMPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "COVID-19": (("The patient tested positive for COVID-19.", "SARS-CoV-2 infection confirmed by PCR.",
                  "Bilateral ground-glass opacities consistent with COVID-19 pneumonia."),
                 ("COVID-19 PCR was negative.", "No evidence of COVID-19.")),
    "Pneumonia": (("Community-acquired pneumonia.", "Lobar pneumonia with consolidation.",
                   "Findings consistent with pneumonia."),
                  ("No pneumonia.", "The lungs are clear.")),
    "ARDS": (("Acute respiratory distress syndrome.", "The patient developed ARDS and was intubated."),
             ("No respiratory distress.", "The patient breathed comfortably on room air.")),
    "Pneumocystis": (("Pneumocystis jirovecii pneumonia.", "PCP pneumonia in an immunocompromised patient."),
                     ("No opportunistic infection.", "The lungs are clear.")),
    "No Finding": (("Normal chest radiograph.", "The lungs are clear."),
                   ("Bilateral airspace opacities.", "Pneumonia.")),
}

PROMPTS = {**PHANTOM_PROMPTS, **COVID_PROMPTS}  # by label name: what zero-shot evaluation looks up


def read_prompts(path) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """A user's prompt file (YAML or JSON) in the shape of :data:`PROMPTS`::

        pleural_effusion:
          positive: ["Pleural effusion.", "Small left pleural effusion."]
          negative: ["No pleural effusion."]

    Every label needs at least one positive and one negative sentence; anything else is an error naming the label."""
    from pathlib import Path

    from cxrvlp.recipe import yaml_load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prompt file")
    raw = yaml_load(path.read_text())
    example = "{label: {positive: [sentence, ...], negative: [sentence, ...]}}"
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a mapping {example}")
    out = {}
    for label, sets in raw.items():
        if not isinstance(sets, dict) or set(sets) - {"positive", "negative"}:
            raise ValueError(f"{path}: label {label!r} must map to {{positive: [...], negative: [...]}}")
        pos, neg = ([sets.get(k)] if isinstance(sets.get(k), str) else list(sets.get(k) or ())
                    for k in ("positive", "negative"))
        if not pos or not neg or not all(isinstance(s, str) and s.strip() for s in pos + neg):
            raise ValueError(f"{path}: label {label!r} needs non-empty positive and negative sentences ({example})")
        out[str(label)] = (tuple(pos), tuple(neg))
    return out
