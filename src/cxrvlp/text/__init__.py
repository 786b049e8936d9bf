"""Report processing: sections, cleaning, sentences, the radiology lexicon and the rule labeler.

``tokenize`` (torch) is not imported here, so report processing stays importable without torch loaded.
"""
from cxrvlp.text.clean import clean_text
from cxrvlp.text.labeler import ReportLabels, RuleLabeler, Status, label_report
from cxrvlp.text.lexicon import LEXICON, Lexicon, Mention, Term, find_mentions
from cxrvlp.text.sections import sections_from_fields, split_sections
from cxrvlp.text.sentences import Sentence, split_sentences

__all__ = ["LEXICON", "Lexicon", "Mention", "ReportLabels", "RuleLabeler", "Sentence", "Status", "Term",
           "clean_text", "find_mentions", "label_report", "sections_from_fields", "split_sections",
           "split_sentences"]
