"""Report sections, cleaning and sentence splitting on hand-written report variants."""
import math

import pytest

from cxrvlp.text.clean import clean_text, replace_deid_blanks
from cxrvlp.text.sections import canonical_heading, sections_from_fields, split_sections
from cxrvlp.text.sentences import list_number_spans, sentence_index_at, split_sentences

MIMIC_WITH_WET_READ = """ WET READ: ___ ___ ___ 4:33 PM
  No acute intrathoracic process.
 ______________________________________________________________________________
                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 FINDINGS:
 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows.

 IMPRESSION:
 No acute cardiopulmonary process.

 NOTIFICATION:  The findings were discussed with Dr. ___ by Dr. ___ on the telephone on ___ at 10:44 am.
"""


def test_mimic_wet_read_final_report_and_notification():
    s = split_sections(MIMIC_WITH_WET_READ)
    assert list(s) == ["WET READ", "PREAMBLE", "EXAMINATION", "INDICATION", "FINDINGS", "IMPRESSION", "NOTIFICATION"]
    assert s["WET READ"] == "___ ___ ___ 4:33 PM No acute intrathoracic process."  # separator line dropped
    assert s["PREAMBLE"] == "FINAL REPORT"
    assert s["FINDINGS"].startswith("There is no focal consolidation") and s["FINDINGS"].endswith("nipple shadows.")
    assert s["IMPRESSION"] == "No acute cardiopulmonary process."
    assert s["NOTIFICATION"].startswith("The findings were discussed with Dr. ___")


def test_headings_in_any_case_and_without_a_newline_before_them():
    s = split_sections("Findings: The lungs are clear. No effusion. impression: Normal chest. CONCLUSION: none")
    assert s == {"FINDINGS": "The lungs are clear. No effusion.", "IMPRESSION": "Normal chest. none"}


def test_a_sentence_that_starts_with_a_heading_word_is_not_a_heading():
    s = split_sections("FINDINGS: Exam is limited by rotation.\nHistory of smoking is noted.")
    assert s == {"FINDINGS": "Exam is limited by rotation. History of smoking is noted."}


def test_wet_read_version_and_heading_alone_on_its_line():
    text = "WET READ VERSION #1 ___ ___ 8:51 PM\n No pneumonia.\nIMPRESSION\n Stable.\n"
    assert split_sections(text) == {"WET READ": "___ ___ 8:51 PM No pneumonia.", "IMPRESSION": "Stable."}


def test_unknown_upper_case_heading_keeps_its_name():
    s = split_sections("PA AND LATERAL VIEWS OF THE CHEST: Clear lungs.\nREASON FOR EXAM: cough")
    assert s == {"PA AND LATERAL VIEWS OF THE CHEST": "Clear lungs.", "INDICATION": "cough"}


def test_canonical_headings():
    assert canonical_heading("Impressions") == "IMPRESSION"
    assert canonical_heading("clinical  history") == "INDICATION"
    assert canonical_heading("Findings and Impression") == "IMPRESSION"
    assert canonical_heading("odd heading") == "ODD HEADING"


def test_iu_xray_fields_become_sections_and_empty_fields_are_left_out():
    row = {"findings": "The heart is normal in size.", "impression": "Normal chest x-XXXX.",
           "indication": "Positive TB test", "comparison": "", "image": "Xray Chest PA and Lateral",
           "MeSH": math.nan}
    assert sections_from_fields(row) == {"FINDINGS": "The heart is normal in size.",
                                         "IMPRESSION": "Normal chest x-XXXX.", "INDICATION": "Positive TB test",
                                         "EXAMINATION": "Xray Chest PA and Lateral"}


def test_clean_text_removes_blanks_numbers_separators_and_double_periods():
    text = "1. No acute process.. 2. Discussed with Dr. ___ at ___.\n_________\nThere are no XXXX of effusion."
    assert clean_text(text) == "No acute process. Discussed with Dr. at. There are no of effusion."
    assert clean_text(text, deid_token="[BLANK]", list_numbers=True) == (
        "1. No acute process. 2. Discussed with Dr. [BLANK] at [BLANK]. There are no [BLANK] of effusion.")
    assert replace_deid_blanks("XXXX-ray of Xavier", "_") == "_-ray of Xavier"  # only whole upper-case blanks


def test_list_numbers_need_a_list_context():
    text = "1. No acute disease 2. Changes of the spine. Fracture of rib 5. Old."
    spans = [text[s:e] for s, e in list_number_spans(text)]
    assert spans == ["1. ", "2. "]  # "rib 5." continues no list: it is a sentence end


@pytest.mark.parametrize("text, expected", [
    ("Nodule measures 1.5 cm. There is no effusion.", ["Nodule measures 1.5 cm.", "There is no effusion."]),
    ("A 1.5 cm. nodule in the RUL. Stable.", ["A 1.5 cm. nodule in the RUL.", "Stable."]),
    ("Discussed with Dr. Smith at 4 p.m. on the phone. Approx. 3 mm larger.",
     ["Discussed with Dr. Smith at 4 p.m. on the phone.", "Approx. 3 mm larger."]),
    ("1. No pneumonia. 2. Stable cardiomegaly.", ["No pneumonia.", "Stable cardiomegaly."]),
    ("1. No acute disease 2. Changes of the spine", ["No acute disease", "Changes of the spine"]),
    ("No acute disease 2. Changes", ["No acute disease 2.", "Changes"]),  # a lone "2." continues no list
    ("Lungs clear\n\nHeart normal", ["Lungs clear", "Heart normal"]),
    ("Pneumonia? Effusion vs. atelectasis, e.g. at the base.",
     ["Pneumonia?", "Effusion vs. atelectasis, e.g. at the base."]),
    ("Clear lungs.. Normal heart.", ["Clear lungs..", "Normal heart."]),
])
def test_sentence_splitting(text, expected):
    assert [s.text for s in split_sentences(text)] == expected


def test_sentence_spans_index_the_original_text():
    text = "  FINDINGS:\n 1. Lungs are clear.  2. No effusion of 2.5 cm.\n"
    sentences = split_sentences(text)
    assert [text[s.start:s.end] for s in sentences] == [s.text for s in sentences]
    assert [s.index for s in sentences] == list(range(len(sentences)))
    assert sentences[-1].text == "No effusion of 2.5 cm."
    assert sentence_index_at(sentences, text.index("effusion")) == sentences[-1].index
