"""Every registered image encoder is built and run through the uniform interface (forward, forward_intermediates,
forward_visible), so a newly registered one is tested the day it is added."""
import pytest
import torch

from cxrvlp.encoders import build_image_encoder, list_image_encoders

SIZE = (64, 96)
# the generic 'timm' entry builds any timm model by name and family; everything else needs no options
OPTIONS = {"timm": {"model": "test_convnext", "family": "cnn"}}


def _build(name: str):
    torch.manual_seed(0)
    return build_image_encoder({"name": name, "img_size": list(SIZE), **OPTIONS.get(name, {})}).eval()


@pytest.mark.parametrize("name", list_image_encoders())
def test_encoder_contract(name):
    enc = _build(name)
    images = torch.randn(2, enc.in_chans, *SIZE)
    with torch.no_grad():
        out = enc(images)
        maps = enc.forward_intermediates(images)
    h, w = enc.feature_grid(SIZE)
    assert out.global_features.shape == (2, enc.global_dim)
    assert out.local_features.shape == (2, h * w, enc.local_dim) and out.grid == (h, w)
    assert maps and all(m.ndim == 4 and m.shape[0] == 2 for m in maps)  # NCHW for every family

    visible = torch.ones(2, h * w, dtype=torch.bool)
    visible[:, ::2] = False  # every other patch hidden: the same count in each image
    hidden_changed = images.clone()
    cells = (~visible[0]).view(h, w).nonzero()
    r = enc.reduction
    for y, x in cells.tolist():  # new pixels in every hidden patch only
        hidden_changed[..., y * r:(y + 1) * r, x * r:(x + 1) * r] = torch.randn_like(
            hidden_changed[..., y * r:(y + 1) * r, x * r:(x + 1) * r])
    with torch.no_grad():
        a, b = enc.forward_visible(images, visible), enc.forward_visible(hidden_changed, visible)
    torch.testing.assert_close(a.global_features, b.global_features)  # hidden patches are never seen
    if a.token_index is not None:  # dropped from the sequence (ViT): K tokens and where they sit
        assert a.local_features.shape[1] == int(visible[0].sum())
        assert torch.equal(a.token_index[0], visible[0].nonzero().flatten())


def test_vit_with_every_patch_visible_is_the_plain_forward():
    enc = _build("test_vit")
    images = torch.randn(2, 1, *SIZE)
    h, w = enc.feature_grid()
    with torch.no_grad():
        plain, visible = enc(images), enc.forward_visible(images, torch.ones(2, h, w, dtype=torch.bool))
    torch.testing.assert_close(visible.global_features, plain.global_features)
    torch.testing.assert_close(visible.local_features, plain.local_features)
    with pytest.raises(ValueError, match="same number"):
        ragged = torch.ones(2, h * w, dtype=torch.bool)
        ragged[0, 0] = False
        enc.forward_visible(images, ragged)
