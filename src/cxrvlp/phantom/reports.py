"""Free-text reports written from the ground truth, and the labels a report labeler would read from them.

Every sentence is built together with the CheXpert observations it asserts (1 positive, 0 negated, −1
uncertain), so the label file follows the text exactly, as a rule-based labeler would. What a sentence may say
is decided by the truth and by what the views show: a finding invisible in every view is not reported (a
miss), a subtle one is hedged, a lateral-only one is said to be seen on the lateral view; negations are only
written for observations whose findings are truly absent.
"""
from __future__ import annotations

import textwrap

import numpy as np

CHEXPERT = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
            "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
            "Pneumothorax", "Support Devices")
# which true findings make an observation present: a negation is only written when all of them are absent
SUPPORT = {"Atelectasis": {"atelectasis", "retrocardiac_opacity"}, "Cardiomegaly": {"cardiomegaly"},
           "Consolidation": {"consolidation", "retrocardiac_opacity"}, "Edema": {"edema"},
           "Enlarged Cardiomediastinum": {"cardiomegaly", "mass"}, "Fracture": set(),
           "Lung Lesion": {"nodule", "mass"},
           "Lung Opacity": {"consolidation", "retrocardiac_opacity", "edema", "atelectasis", "nodule", "mass",
                            "pleural_effusion"},
           "Pleural Effusion": {"pleural_effusion"}, "Pleural Other": set(),
           "Pneumonia": {"consolidation", "retrocardiac_opacity"}, "Pneumothorax": {"pneumothorax"},
           "Support Devices": {"support_devices"}}
SUBTLE = 14.0  # conspicuity (gray levels) under which a reader tends to hedge
LOBE = {("right", "upper"): "right upper lobe", ("right", "middle"): "right middle lobe",
        ("right", "lower"): "right lower lobe", ("left", "upper"): "left upper lobe", ("left", "lingula"): "lingula",
        ("left", "lower"): "left lower lobe"}


class Writer:
    """Picks phrasings and remembers the labels each sentence asserts."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.asserts: dict[str, dict[str, float]] = {}

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def say(self, text: str, **labels) -> str:
        self.asserts[text] = {k.replace("_", " "): float(v) for k, v in labels.items()}
        return text

    def labels(self, sentences: list[str]) -> dict[str, float]:
        """CheXpert aggregation over the sentences: positive beats uncertain beats negative."""
        rank = {1.0: 3, -1.0: 2, 0.0: 1}
        out: dict[str, float] = {}
        for t in sentences:
            for col, v in self.asserts.get(t, {}).items():
                if col not in out or rank[v] > rank[out[col]]:
                    out[col] = v
        return out


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _where_seen(vis: dict) -> str:
    if vis.get("LAT") and not vis.get("PA"):
        return "lat_only"
    if vis.get("PA") and vis.get("LAT") is False:
        return "pa_only"
    return "both"


def describe(w: Writer, f, vis: dict, consp: float, change: str | None) -> list[str]:
    """Sentences for one visible finding; ``change`` is "unchanged", "new", "increased", "decreased" or None."""
    p, side, size = f.params, f.side, f.size_word
    hedge = consp < SUBTLE and w.rng.random() < 0.7
    seen = _where_seen(vis)
    pre = {"unchanged": w.pick(["Unchanged ", "Stable ", "Persistent "]), "new": "New ",
           "increased": "Increased ", "decreased": "Decreased "}.get(change or "", "")
    if f.name == "cardiomegaly":
        adv = {"mild": "mildly", "moderate": "moderately", "severe": "markedly"}[size]
        if hedge and size == "mild":
            return [w.say(w.pick(["Heart size is top normal to mildly enlarged.",
                                  "Borderline enlargement of the cardiac silhouette."]), Cardiomegaly=-1)]
        opts = [f"{pre}{size} cardiomegaly." if pre else f"{_cap(size)} cardiomegaly.",
                f"The heart is {adv} enlarged.", f"Heart size is {adv} enlarged.",
                f"{_cap(size)} enlargement of the cardiac silhouette."]
        out = [w.say(_cap(w.pick(opts)), Cardiomegaly=1)]
        if change == "unchanged" and not pre:
            out.append("Heart size is unchanged.")
        if w.rng.random() < 0.25:
            out.append(w.say("The cardiomediastinal silhouette is enlarged.", Enlarged_Cardiomediastinum=1,
                             Cardiomegaly=1))
        return out
    if f.name == "pleural_effusion":
        both = side == "bilateral"
        noun = w.pick(["pleural effusions", "effusions"] if both else ["pleural effusion", "effusion"])
        where = "bilateral" if both else side
        if seen == "lat_only":
            return [w.say(f"{_cap(size)} {where} {noun} {'are' if both else 'is'} seen only on the lateral view, "
                          f"blunting the posterior costophrenic {'sulci' if both else 'sulcus'}.", Pleural_Effusion=1)]
        if hedge:
            return [w.say(w.pick([f"Possible {size} {where} {noun}.",
                                  f"Blunting of the {where} costophrenic angle{'s' if both else ''} may represent "
                                  f"{'small effusions' if both else 'a small effusion'} or pleural thickening.",
                                  f"A {size} {where} {noun} cannot be excluded."]), Pleural_Effusion=-1)]
        opts = [f"{pre}{size} {where} {noun}.", f"{_cap(size)} amount of {where} pleural fluid."]
        if size == "large":
            hemithorax = "lower hemithoraces" if both else where + " lower hemithorax"
            opts.append(f"Large {where} {noun} with opacification of the {hemithorax}.")
        else:
            opts.append(f"{_cap(size)} {where} {noun} with blunting of the costophrenic angle{'s' if both else ''}.")
        if not pre:
            opts = opts[1:] + [f"{_cap(size)} {where} {noun}."]
        return [w.say(_cap(w.pick(opts)), Pleural_Effusion=1)]
    if f.name == "pneumothorax":
        noun = w.pick(["pneumothorax", "pneumothorax", "PTX"])
        where = f"{side} apical" if size == "small" else side
        if hedge:
            return [w.say(w.pick([f"Possible tiny {where} {noun}.", f"A tiny {where} {noun} cannot be excluded.",
                                  f"Questionable {side} apical pleural line, may represent a small {noun}."]),
                          Pneumothorax=-1)]
        opts = [f"{pre}{size} {where} {noun}.", f"There is a {size} {where} {noun}.",
                f"{_cap(size)} {side} {noun} with a visible visceral pleural line."]
        return [w.say(_cap(w.pick(opts)), Pneumothorax=1)]
    if f.name == "consolidation":
        lobe = LOBE[(side, p["lobe"])]
        extra = ""
        if p["lobe"] == "middle":
            extra = ", obscuring the right heart border"
        elif p["lobe"] == "lingula":
            extra = ", silhouetting the left heart border"
        elif p["lobe"] == "lower" and w.rng.random() < 0.5:
            extra = f", obscuring the {side} hemidiaphragm"
        if hedge:
            return [w.say(w.pick([f"Subtle opacity in the {lobe} may represent early pneumonia.",
                                  f"Possible {lobe} consolidation.",
                                  f"Hazy opacity at the {side} {'base' if p['lobe'] == 'lower' else 'mid lung'}, "
                                  f"infection cannot be excluded."]), Lung_Opacity=1, Pneumonia=-1)]
        k = int(w.rng.integers(5))
        if k == 0:
            return [w.say(_cap(f"{pre}{p['extent']} consolidation in the {lobe}{extra}."), Consolidation=1)]
        if k == 1:
            return [w.say(f"{_cap(lobe)} consolidation{extra}, compatible with pneumonia.", Consolidation=1,
                          Pneumonia=1)]
        if k == 2:
            return [w.say(f"{_cap(p['extent'])} airspace opacity in the {lobe}{extra}, concerning for pneumonia.",
                          Lung_Opacity=1, Pneumonia=-1)]
        if k == 3:
            return [w.say(f"{_cap(p['extent'])} infiltrate in the {lobe}{extra}.", Lung_Opacity=1)]
        return [w.say(f"There is {'a ' if p['extent'] == 'focal' else ''}{p['extent']} consolidation of the {lobe}"
                      f" with air bronchograms{extra}.", Consolidation=1)]
    if f.name == "nodule":
        mm = int(round(p["diameter_cm"] * 10))
        loc = f"{side} {p['zone']} lung"
        if p["calcified"]:
            return [w.say(_cap(w.pick([f"{pre}{mm} mm calcified granuloma in the {loc}.",
                                       f"{pre}calcified nodule in the {loc}, likely a granuloma."])), Lung_Lesion=1)]
        if hedge or mm < 8:
            return [w.say(w.pick([f"Possible {mm} mm nodular opacity in the {loc}.",
                                  f"A subtle nodular opacity in the {loc} may represent a pulmonary nodule; "
                                  f"nipple shadow cannot be excluded.",
                                  f"Questionable small nodule projecting over the {loc}."]), Lung_Lesion=-1)]
        return [w.say(w.pick([f"{pre}{mm} mm nodule in the {loc}.",
                              f"A {mm} mm pulmonary nodule projects over the {loc}.",
                              f"{mm} mm nodular opacity in the {loc}, recommend CT for further evaluation."]),
                      Lung_Lesion=1)]
    if f.name == "mass":
        cm = f"{p['diameter_cm']:.1f}".rstrip("0").rstrip(".")
        loc = f"{side} hilum" if p["hilar"] else f"{side} {p['zone']} lung"
        out = [w.say(w.pick([f"{pre}{cm} cm mass in the {loc}.", f"There is a {cm} cm mass-like opacity in the {loc}, "
                             f"concerning for malignancy.", f"{_cap(size)} {side} {'hilar ' if p['hilar'] else ''}mass "
                             f"measuring {cm} cm."]), Lung_Lesion=1)]
        if p["hilar"]:
            out.append(w.say("The hilar contour is enlarged.", Enlarged_Cardiomediastinum=1))
        return out
    if f.name == "atelectasis":
        where = "bibasilar" if side == "bilateral" else f"{side} basilar"
        if p["kind"] == "lobar":
            return [w.say(w.pick([f"{_cap(side)} lower lobe collapse with elevation of the {side} hemidiaphragm.",
                                  f"{_cap(side)} lower lobe atelectasis with volume loss.",
                                  f"Volume loss in the {side} lower lobe, consistent with atelectasis."]),
                          Atelectasis=1)]
        if hedge:
            return [w.say(w.pick([f"Linear {where} opacity, likely atelectasis.",
                                  f"Streaky {where} opacity may reflect atelectasis."]), Atelectasis=-1)]
        base = "lung bases" if side == "bilateral" else side + " base"
        return [w.say(_cap(w.pick([f"{pre}{size} plate-like atelectasis at the {base}.",
                                   f"{pre}{where} subsegmental atelectasis.", f"{pre}{size} {where} atelectasis."])),
                      Atelectasis=1)]
    if f.name == "edema":
        if hedge and size == "mild":
            return [w.say(w.pick(["Possible mild interstitial edema.", "Mild pulmonary vascular congestion cannot be "
                                  "excluded."]), Edema=-1)]
        opts = {"mild": ["Mild pulmonary vascular congestion.", "Mild interstitial pulmonary edema.",
                         "Mild pulmonary edema."],
                "moderate": ["Moderate pulmonary edema.", "Moderate interstitial edema with perihilar haziness.",
                             "Findings are consistent with moderate pulmonary edema."],
                "severe": ["Severe pulmonary edema.",
                           "Severe pulmonary edema with bilateral perihilar opacities."]}[size]
        out = [w.say(f"{pre}{size} pulmonary edema." if pre else w.pick(opts), Edema=1)]
        if p.get("kerley_lines", 0) >= 8 and w.rng.random() < 0.5:
            out.append(w.say("Kerley B lines are noted at the lung bases.", Edema=1))
        return out
    if f.name == "retrocardiac_opacity":
        tail = " seen on the lateral view" if seen == "lat_only" else ""
        return [w.say(w.pick([f"Retrocardiac opacity{tail}, which may reflect atelectasis or pneumonia.",
                              f"Left lower lobe opacity behind the heart{tail or ', better seen on the lateral view'}, "
                              f"concerning for pneumonia.",
                              f"Retrocardiac opacity{tail} could represent atelectasis, though infection cannot be "
                              f"excluded."]), Lung_Opacity=1, Atelectasis=-1, Pneumonia=-1)]
    if f.name == "support_devices":
        return [w.say(_device(w, d), Support_Devices=1) for d in p["devices"]]
    raise ValueError(f.name)


def _device(w: Writer, d: dict) -> str:
    k = d["kind"]
    if k == "ett":
        return w.pick([f"Endotracheal tube terminates {d['above_carina']:.1f} cm above the carina.",
                       f"ET tube tip is {d['above_carina']:.1f} cm above the carina."])
    if k == "cvc":
        return w.pick([f"{_cap(d['route'])} central venous catheter with tip in the {d['tip']}.",
                       f"{_cap(d['route'])} line terminates at the {d['tip']}."])
    if k == "picc":
        return w.pick([f"{_cap(d['side'])} PICC line with tip at the {d['tip']}.",
                       f"{_cap(d['side'])}-sided PICC terminates in the {d['tip']}."])
    if k == "pacemaker":
        leads = {1: "a lead in the right ventricle", 2: "leads in the right atrium and right ventricle",
                 3: "three leads"}[d["leads"]]
        return w.pick([f"{_cap(d['side'])}-sided pacemaker with {leads}.",
                       f"{_cap(d['side'])} chest wall pacing device with {leads}."])
    if k == "sternotomy":
        return w.pick(["Median sternotomy wires.", "Intact median sternotomy wires.", "Patient is status post median "
                       "sternotomy."])
    return w.pick(["Enteric tube courses below the diaphragm with tip in the stomach.",
                   "Nasogastric tube tip is in the stomach."])


NEGATIONS = [
    ("No pleural effusion or pneumothorax.", {"Pleural_Effusion": 0, "Pneumothorax": 0}),
    ("No pneumothorax.", {"Pneumothorax": 0}), ("There is no pneumothorax.", {"Pneumothorax": 0}),
    ("No PTX.", {"Pneumothorax": 0}), ("No pleural effusion.", {"Pleural_Effusion": 0}),
    ("No effusion.", {"Pleural_Effusion": 0}), ("Negative for pleural fluid.", {"Pleural_Effusion": 0}),
    ("No focal consolidation.", {"Consolidation": 0}),
    ("No focal consolidation to suggest pneumonia.", {"Consolidation": 0, "Pneumonia": 0}),
    ("No pulmonary edema.", {"Edema": 0}), ("No pulmonary vascular congestion.", {"Edema": 0}),
    ("No focal consolidation, pleural effusion, or pneumothorax.",
     {"Consolidation": 0, "Pleural_Effusion": 0, "Pneumothorax": 0}),
    ("There is no edema, effusion, or pneumothorax.", {"Edema": 0, "Pleural_Effusion": 0, "Pneumothorax": 0}),
]


def _allowed(labels: dict, truth: set) -> bool:
    return all(not (SUPPORT[k.replace("_", " ")] & truth) for k in labels)


def negatives(w: Writer, truth: set, n: int) -> list[str]:
    """Up to ``n`` negated statements, only about observations that are truly absent."""
    ok = [(t, lab) for t, lab in NEGATIONS if _allowed(lab, truth)]
    out, covered = [], set()
    for i in w.rng.permutation(len(ok)):
        t, lab = ok[i]
        if len(out) >= n:
            break
        if set(lab) & covered:
            continue
        covered |= set(lab)
        out.append(w.say(t, **lab))
    return out


def write_report(rng: np.random.Generator, study: dict) -> tuple[str, dict]:
    """Report text and CheXpert-style labels (read from the text that is actually written) for one study.

    ``study``: ``findings`` (list of Finding), ``visible`` {name: {view: bool}}, ``conspicuity`` {name: float},
    ``views`` (ViewPositions), ``prior`` (list of Finding or None), ``sex``.
    """
    w = Writer(rng)
    truth = {f.name for f in study["findings"]}
    shown = [f for f in study["findings"] if any(study["visible"][f.name].values())]
    prior = {f.name: f for f in (study["prior"] or [])}
    views = study["views"]
    lateral = any(v in ("LATERAL", "LL") for v in views)
    exam = "CHEST (PORTABLE AP)" if "AP" in views else "CHEST (PA AND LAT)" if lateral else "CHEST (SINGLE VIEW)"
    body, summary = [], []
    for f in shown:
        change = None
        if study["prior"] is not None:
            if f.name in prior:
                old = prior[f.name]
                change = "unchanged" if old.size_word == f.size_word else (
                    "increased" if _order(f.size_word) > _order(old.size_word) else "decreased")
            else:
                change = "new"
        said = describe(w, f, study["visible"][f.name], study["conspicuity"][f.name], change)
        body += said
        summary.append(said[0])
    for old in (prior[n] for n in prior if n not in truth):
        col = {"pleural_effusion": ("pleural effusion", "Pleural_Effusion"),
               "pneumothorax": ("pneumothorax", "Pneumothorax"), "consolidation": ("consolidation", "Consolidation"),
               "edema": ("pulmonary edema", "Edema")}.get(old.name)
        if col and _allowed({col[1]: 0}, truth):
            side = f"{old.side} " if old.side and old.side != "bilateral" else ""
            body.append(w.say(f"Interval resolution of the previously seen {side}{col[0]}.", **{col[1]: 0}))
            summary.append(body[-1])
    normal = []
    if "cardiomegaly" not in truth:
        normal.append(w.say(w.pick(["Heart size is normal.", "The heart size is normal.", "Normal heart size.",
                                    "The cardiac silhouette is within normal limits."]), Cardiomegaly=0))
    if not truth & {"cardiomegaly", "mass"} and rng.random() < 0.6:
        normal.append(w.say(w.pick(["The mediastinal and hilar contours are normal.",
                                    "Mediastinal and hilar contours are unremarkable.",
                                    "The cardiomediastinal silhouette is normal."]), Enlarged_Cardiomediastinum=0))
    if not truth & SUPPORT["Lung Opacity"] and "pneumothorax" not in truth:
        normal.insert(0, w.say("The lungs are clear.", Lung_Opacity=0))
    normal += negatives(w, truth, 1 if shown else 2)
    if rng.random() < 0.3:
        normal.append(w.say(w.pick(["No acute osseous abnormality.", "No displaced rib fracture is seen."]),
                            **({"Fracture": 0} if rng.random() < 0.5 else {})))
    compact = {"Lung_Opacity": 0, "Pleural_Effusion": 0, "Pneumothorax": 0, "Cardiomegaly": 0}
    if not body and _allowed(compact, truth) and rng.random() < 0.5:  # the many near-identical normal reports
        findings = [w.say(w.pick(["The lungs are clear. No pleural effusion or pneumothorax. Heart size is normal.",
                                  "Lungs are clear. Heart size is normal. No pleural effusion or pneumothorax."]),
                          **compact)]
    else:
        findings = body + normal
    intro = w.pick(["", "", "PA and lateral views of the chest provided. " if lateral else
                    "Single frontal view of the chest provided. "])
    if shown:
        impression = list(summary)
        if study["prior"] is not None and rng.random() < 0.3:
            impression.append(w.pick(["Otherwise no significant interval change.", "No other interval change."]))
    else:
        impression = summary + [w.pick(["No acute cardiopulmonary process.", "No acute cardiopulmonary process.",
                                        "No acute intrathoracic process.", "No acute cardiopulmonary abnormality.",
                                        "No evidence of acute cardiopulmonary disease."])]
    with_findings = rng.random() >= 0.15
    labels = w.labels((findings if with_findings else []) + impression)
    pathology = [c for c in CHEXPERT if c not in ("No Finding", "Support Devices")]
    if not any(labels.get(c) in (1.0, -1.0) for c in pathology):
        labels["No Finding"] = 1.0
    comparison = ("Chest radiograph ___." if rng.random() < 0.5 else "___.") if study["prior"] is not None else \
        str(rng.choice(["None.", "None.", "___"]))
    sections = [("EXAMINATION", exam), ("INDICATION", _indication(rng, study, truth)), ("COMPARISON", comparison)]
    if with_findings:
        sections.append(("FINDINGS", intro + " ".join(findings)))
    sections.append(("IMPRESSION", " ".join(impression)))
    lines = [" " * 33 + "FINAL REPORT"]
    for name, text in sections:
        if name in ("FINDINGS", "IMPRESSION"):
            lines += [f" {name}:", " ", textwrap.fill(text, 76, initial_indent=" ", subsequent_indent=" "), " "]
        else:
            lines += [textwrap.fill(text, 76, initial_indent=f" {name}:  ", subsequent_indent=" "), " "]
    return "\n".join(lines).rstrip() + "\n", {c: labels.get(c) for c in CHEXPERT}


def _order(word: str) -> int:
    return {"small": 0, "minimal": 0, "mild": 0, "moderate": 1, "large": 2, "severe": 2}.get(word, 1)


def _indication(rng, study: dict, truth: set) -> str:
    who = f"___-year-old {'woman' if study['sex'] == 'F' else 'man'}"
    reasons = ["cough", "shortness of breath", "chest pain", "fever", "preoperative evaluation", "dyspnea",
               "hypoxia", "weakness", "fall"]
    if "support_devices" in truth:
        reasons += ["line placement", "intubated patient", "pacemaker check"]
    if truth & {"edema", "cardiomegaly", "pleural_effusion"}:
        reasons += ["CHF exacerbation", "volume overload"]
    q = rng.choice(["eval for pneumonia", "eval for acute process", "?pneumonia", "assess for effusion",
                    "r/o pneumothorax", "eval for interval change"])
    return f"{who} with {rng.choice(reasons)}  // {q}"
