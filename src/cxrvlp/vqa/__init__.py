"""Closed-set visual question answering: questions made from the phantom's ground truth, readers for the public
VQA sets (VQA-RAD, SLAKE) in their official JSON layouts, and the evaluation (``cxrvlp evaluate vqa``)."""
from cxrvlp.vqa.phantom_questions import phantom_questions
from cxrvlp.vqa.public import read_slake, read_vqa_rad
from cxrvlp.vqa.types import Question

__all__ = ["Question", "phantom_questions", "read_slake", "read_vqa_rad"]
