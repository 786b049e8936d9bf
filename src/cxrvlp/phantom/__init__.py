"""Procedural chest X-ray phantom: a random 3-D chest with findings, projected into PA and lateral radiographs,
with reports and labels, written in the MIMIC-CXR-JPG layout (see docs/phantom.md).

    from cxrvlp.phantom import generate, FINDINGS
    generate("data/phantom", n_studies=200, seed=0)
"""
from .findings import FINDINGS
from .studies import StudySpec, render_study, render_with_footprints
from .writer import GENERATOR_VERSION, generate

__all__ = ["FINDINGS", "GENERATOR_VERSION", "StudySpec", "generate", "render_study", "render_with_footprints"]
