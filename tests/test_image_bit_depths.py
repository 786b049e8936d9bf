"""Every kind of image file users have reads at its full bit depth, scaled to [0, 1] (16-bit PNG and TIFF used to
saturate to white), and a constant image warns instead of giving NaN."""
import numpy as np
import pytest
from PIL import Image

from cxrvlp.data.transforms import load_gray

RAMP = np.tile(np.linspace(0, 1, 64), (32, 1))  # dark on the left, bright on the right


def _save(tmp_path, name, im):
    path = tmp_path / name
    im.save(path)
    return path


@pytest.mark.parametrize("name,make", [
    ("gray8.png", lambda: Image.fromarray((RAMP * 255).astype(np.uint8))),
    ("gray16.png", lambda: Image.fromarray((RAMP * 4095 + 100).astype(np.uint16))),  # 12 bits used of 16
    ("gray16.tif", lambda: Image.fromarray((RAMP * 65535).astype(np.uint16))),
    ("float.tif", lambda: Image.fromarray((RAMP * 3.0 - 1.0).astype(np.float32))),
    ("int32.tif", lambda: Image.fromarray((RAMP * 1e6).astype(np.int32))),
    ("rgb.png", lambda: Image.fromarray((np.stack([RAMP] * 3, -1) * 255).astype(np.uint8))),
    ("rgba.png", lambda: Image.fromarray((np.stack([RAMP] * 3 + [np.ones_like(RAMP) * 0.5], -1) * 255)
                                         .astype(np.uint8))),
    ("palette.png", lambda: Image.fromarray((RAMP * 255).astype(np.uint8)).convert("P")),
    ("gray8.jpg", lambda: Image.fromarray((RAMP * 255).astype(np.uint8))),
])
def test_every_kind_reads_as_the_same_ramp(tmp_path, name, make):
    img = load_gray(_save(tmp_path, name, make()))
    assert img.shape == (1, 32, 64) and img.dtype.is_floating_point
    row = img[0, 16].numpy()
    assert row.min() >= 0 and row.max() <= 1
    np.testing.assert_allclose(row, RAMP[16], atol=0.03)  # not saturated, not dark: the whole range is used


def test_bilevel_and_constant_images(tmp_path):
    bits = Image.fromarray(RAMP > 0.5).convert("1")
    img = load_gray(_save(tmp_path, "bits.png", bits))
    assert set(np.unique(img.numpy())) == {0.0, 1.0}
    flat = Image.fromarray(np.full((8, 8), 1234, dtype=np.uint16))
    with pytest.warns(UserWarning, match="constant image"):
        img = load_gray(_save(tmp_path, "flat16.png", flat))
    assert np.isfinite(img.numpy()).all() and img.max() == 0


def test_a_broken_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")
    with pytest.raises(OSError, match="broken.png: cannot read image"):
        load_gray(path)
