"""cxrvlp: chest X-ray vision-language pre-training.

``model, preprocess, tokenizer = cxrvlp.load(path)`` reads an export folder (``cxrvlp export``) or a checkpoint:
see :func:`cxrvlp.export.load`.
"""

__version__ = "0.2.0"


def load(path, text: bool = True, text_path=None, map_location="cpu"):
    """``(model, preprocess, tokenizer)`` of an export folder or a ``.ckpt``: :func:`cxrvlp.export.loader.load`."""
    from cxrvlp.export.loader import load as _load

    return _load(path, text=text, text_path=text_path, map_location=map_location)
