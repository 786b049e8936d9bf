"""The phrase language, the lexicon and the rule labeler: one hand-written sentence per rule, and the real IU X-Ray
MeSH reference."""
import pytest

from cxrvlp.data.adapters import CHEXPERT_14
from cxrvlp.text.iu_mesh import mesh_observations, read_iu_reports, score_against_mesh
from cxrvlp.text.labeler import RuleLabeler, Status, label_report
from cxrvlp.text.lexicon import LEXICON, find_mentions
from cxrvlp.text.phrases import PhraseSet, compile_phrase

# Measured 0.819 (positive or uncertain vs MeSH, labels with >= 20 MeSH positives); see docs/labeler.md.
IU_MACRO_F1_FLOOR = 0.78


def _matches(phrases, text, plurals=True):
    return [text[s:e] for s, e in PhraseSet(phrases, plurals).spans(text)]


def test_phrase_language():
    text = "Small pleural effusions. Air-space disease. Atelectatic changes. Heart is mildly enlarged. non-enlarged."
    assert _matches(["pleural effusion", "effusion"], text) == ["pleural effusions"]
    assert _matches(["air space disease"], text) == ["Air-space disease"]
    assert _matches(["atelecta*"], text) == ["Atelectatic"]
    assert _matches(["[heart|cardiac silhouette] ... enlarged"], text) == ["Heart is mildly enlarged"]
    assert _matches(["enlarged"], "non-enlarged") == []
    assert _matches(["heart ... enlarged"], "heart, which is enlarged") == []  # a gap never crosses "which"
    assert _matches(["[is|are]? not seen"], "effusion is not seen; nodule not seen") == ["is not seen", "not seen"]
    with pytest.raises(ValueError, match="needs a word before it"):
        compile_phrase("... enlarged")


def test_lexicon_covers_chexpert_and_exposes_term_lists():
    assert set(LEXICON.observation_names) == set(CHEXPERT_14)
    assert 40 <= len(LEXICON.pathology_terms) <= 50
    for term in ("atelectasis", "effusion", "pneumothorax", "opacity", "cardiomegaly", "granuloma", "scarring"):
        assert term in LEXICON.pathology_terms
    for term in ("right upper lobe", "hilum", "costophrenic angle", "hemidiaphragm", "mediastinum", "trachea"):
        assert term in LEXICON.anatomy_terms


def test_mention_spans_point_at_the_right_characters():
    text = "Heart size is normal. Small left pleural effusion; no pneumothorax.\nPericardial effusion."
    mentions = find_mentions(text)
    assert [(m.observation, m.text, m.sentence_index, m.normal) for m in mentions] == [
        ("Cardiomegaly", "Heart size is normal", 0, True),
        ("Pleural Effusion", "pleural effusion", 1, False),
        ("Pneumothorax", "pneumothorax", 1, False),
    ]  # "pericardial effusion" is excluded from Pleural Effusion
    assert all(text[m.start:m.end] == m.text for m in mentions)


def test_anatomy_terms_prefer_the_longest():
    text = "Opacity in the left lower lobe near the hilum."
    terms = LEXICON.find_terms(text, "anatomy")
    assert [(t.term, text[t.start:t.end]) for t in terms] == [("left lower lobe", "left lower lobe"),
                                                              ("hilum", "hilum")]
    with pytest.raises(ValueError, match="unknown term category"):
        LEXICON.find_terms(text, "bones")


def _status(text, observation):
    return label_report(text)[observation]


@pytest.mark.parametrize("text, observation, status, rule, cue", [
    ("There is a small right pleural effusion.", "Pleural Effusion", Status.POSITIVE, "no cue", None),
    ("No pleural effusion.", "Pleural Effusion", Status.NEGATIVE, "pre-negation", "No"),
    ("Lungs are clear without effusion.", "Pleural Effusion", Status.NEGATIVE, "pre-negation", "without"),
    ("Negative for pneumothorax.", "Pneumothorax", Status.NEGATIVE, "pre-negation", "Negative for"),
    ("Lungs are free of consolidation.", "Consolidation", Status.NEGATIVE, "pre-negation", "free of"),
    ("Lungs are clear of focal airspace disease.", "Lung Opacity", Status.NEGATIVE, "pre-negation", "clear of"),
    ("No evidence of pneumothorax.", "Pneumothorax", Status.NEGATIVE, "pre-negation", "No evidence of"),
    ("Pneumothorax is not seen.", "Pneumothorax", Status.NEGATIVE, "post-negation", "is not seen"),
    ("The left effusion has resolved.", "Pleural Effusion", Status.NEGATIVE, "post-negation", "has resolved"),
    ("Possible left lower lobe pneumonia.", "Pneumonia", Status.UNCERTAIN, "pre-uncertainty", "Possible"),
    ("Pneumonia cannot be excluded.", "Pneumonia", Status.UNCERTAIN, "post-uncertainty", "cannot be excluded"),
    ("Cannot exclude early pneumonia.", "Pneumonia", Status.UNCERTAIN, "pre-uncertainty", "Cannot exclude"),
    ("Likely bibasilar atelectasis.", "Atelectasis", Status.UNCERTAIN, "pre-uncertainty", "Likely"),
    ("Opacity may represent atelectasis.", "Atelectasis", Status.UNCERTAIN, "pre-uncertainty", "may represent"),
    ("Findings suggestive of edema.", "Edema", Status.UNCERTAIN, "pre-uncertainty", "suggestive"),
    ("Question of a nodule.", "Lung Lesion", Status.UNCERTAIN, "pre-uncertainty", "Question of"),
    ("Atelectasis versus pneumonia.", "Atelectasis", Status.UNCERTAIN, "post-uncertainty", "versus"),
    ("Pneumonia?", "Pneumonia", Status.UNCERTAIN, "post-uncertainty", "?"),
    ("No focal consolidation to suggest pneumonia.", "Pneumonia", Status.NEGATIVE, "negated evidential cue", "No"),
    ("The heart is not enlarged.", "Cardiomegaly", Status.NEGATIVE, "pre-negation", "not"),
    ("Heart size is within normal limits.", "Cardiomegaly", Status.NEGATIVE, "normal statement", None),
    ("No change in the small effusion.", "Pleural Effusion", Status.POSITIVE, "no cue", None),  # pseudo-negation
])
def test_one_rule_per_sentence(text, observation, status, rule, cue):
    decision = label_report(text).observations[observation].mentions[0]
    assert (decision.status, decision.rule) == (status, rule)
    assert (decision.cue.text if decision.cue else None) == cue
    if decision.cue:
        assert text[decision.cue.start:decision.cue.end] == cue


@pytest.mark.parametrize("text", [
    "No pneumothorax, but there is a small effusion.",
    "No pneumothorax; small effusion.",
    "No pneumothorax, however small effusion is present.",
    "No consolidation, which would be unusual with effusion.",
])
def test_scope_stops_end_a_negation(text):
    labels = label_report(text)
    assert labels["Pneumothorax"] is Status.NEGATIVE or labels["Consolidation"] is Status.NEGATIVE
    assert labels["Pleural Effusion"] is Status.POSITIVE


def test_negation_spans_a_list_but_not_the_next_sentence():
    labels = label_report("No focal consolidation, pleural effusion, or pneumothorax. Atelectasis at the bases.")
    assert [labels[o] for o in ("Consolidation", "Pleural Effusion", "Pneumothorax", "Atelectasis")] == [
        Status.NEGATIVE, Status.NEGATIVE, Status.NEGATIVE, Status.POSITIVE]


def test_post_cue_is_limited_to_a_few_words():
    far = "Effusion in the right lower hemithorax along the lateral chest wall is not seen."
    assert RuleLabeler(post_cue_words=5).label(far)["Pleural Effusion"] is Status.POSITIVE
    assert RuleLabeler(post_cue_words=12).label(far)["Pleural Effusion"] is Status.NEGATIVE


def test_aggregation_positive_beats_uncertain_beats_negative():
    assert _status("No effusion. Possible small left effusion.", "Pleural Effusion") is Status.UNCERTAIN
    assert _status("Possible effusion. Large right effusion.", "Pleural Effusion") is Status.POSITIVE
    assert _status("No effusion. Effusion has resolved.", "Pleural Effusion") is Status.NEGATIVE
    assert _status("Clear lungs.", "Pleural Effusion") is Status.ABSENT


def test_no_finding_ignores_support_devices_and_follows_chexpert_values():
    normal = label_report("Right PICC line tip in the SVC. No effusion or pneumothorax. Heart size is normal.")
    assert normal["No Finding"] is Status.POSITIVE and normal["Support Devices"] is Status.POSITIVE
    values = normal.chexpert()
    assert list(values)[0] == "No Finding" and set(values) == set(CHEXPERT_14)
    assert (values["No Finding"], values["Pleural Effusion"], values["Lung Lesion"]) == (1.0, 0.0, None)
    assert normal.study_labels() == {k: v for k, v in values.items() if v is not None}

    uncertain = label_report("Possible pneumonia.")
    assert uncertain["No Finding"] is Status.ABSENT and uncertain.chexpert()["Pneumonia"] == -1.0


def test_mesh_terms_map_to_observations():
    assert mesh_observations(["normal"]) == {"No Finding"}
    assert mesh_observations(["Opacity/lung/base/left/mild", "Cardiac Shadow/enlarged/mild"]) == {
        "Lung Opacity", "Cardiomegaly"}
    assert mesh_observations(["Opacity/ribs/anterior", "Calcified Granuloma/lung"]) == set()
    assert mesh_observations(["Hydropneumothorax/right"]) == {"Pleural Effusion", "Pneumothorax"}
    assert mesh_observations(["No Indexing"]) is None


def test_iu_reader_names_the_bad_line(tmp_path):
    path = tmp_path / "studies.jsonl"
    path.write_text('{"study_id": 1, "findings": "", "impression": "Clear.", "MeSH": ["normal"]}\n{"study_id": 2}\n')
    with pytest.raises(ValueError, match=r"studies.jsonl:2: expected a JSON object with study_id, MeSH"):
        read_iu_reports(path)


def test_macro_f1_on_real_iu_xray_reports(shared_data):
    reports = read_iu_reports(shared_data / "iu_xray_reports" / "studies.jsonl")
    result = score_against_mesh(reports)
    assert result["reports"] + sum(result["skipped"].values()) == len(reports) == 3851
    assert result["macro_f1_support_ge_20"] >= IU_MACRO_F1_FLOOR, result["labels"]
    assert result["labels"]["Pleural Effusion"]["f1"] >= 0.85 and result["labels"]["Cardiomegaly"]["f1"] >= 0.9
