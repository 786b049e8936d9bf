"""MPMA's direct claim measurements run on a (barely trained) mpma-tiny and give finite numbers with their counts;
other recipes get a one-line error."""
import math

import pytest
import torch

from cxrvlp.data.adapters import load_studies
from cxrvlp.evaluation.reconstruction import finding_patch_error, finding_word_accuracy
from cxrvlp.methods.loading import build_pretraining
from cxrvlp.recipe import load_recipe


def test_reconstruction_claims_on_the_phantom(tiny_phantom):
    torch.manual_seed(0)
    model, _ = build_pretraining(load_recipe("mpma-tiny", [f"data.root={tiny_phantom}"]))
    studies, _ = load_studies("phantom", tiny_phantom, ("train",))
    words = finding_word_accuracy(model, studies[:16], batch_size=8)
    assert words["pieces"] > 0 and 0 <= words["own_image"] <= 1 and 0 <= words["other_image"] <= 1
    patches = finding_patch_error(model, studies[:16], batch_size=8)
    assert patches["patches_in_findings"] > 0 and patches["patches_elsewhere"] > 0
    for reading in ("with_report", "without_report"):
        assert all(math.isfinite(v) and v > 0 for v in patches[reading].values())
    other, _ = build_pretraining(load_recipe("mgca-tiny"))
    with pytest.raises(ValueError, match="no MLM head"):
        finding_word_accuracy(other, studies[:2])
