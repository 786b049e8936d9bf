"""A trained model that travels: ``cxrvlp export`` writes a self-describing folder, :func:`load` reads it (or a
checkpoint) back as ``(model, preprocess, tokenizer)``, open_clip style.

- :mod:`~cxrvlp.export.writer`: the export folder (weights as safetensors, config, tokenizer, timm and transformers
  copies, model card, checksums);
- :mod:`~cxrvlp.export.loader`: :func:`load`, checksum verification, strict weights;
- :mod:`~cxrvlp.export.model`: :class:`CXRModel` (``encode_image``, ``encode_text``, ``image_encoder``);
- :mod:`~cxrvlp.export.preprocess`: :class:`ImagePreprocess`, any image → the encoder's input tensor;
- :mod:`~cxrvlp.export.card`: the model card.
"""
from cxrvlp.export.loader import from_checkpoint, load, verify_checksums
from cxrvlp.export.model import CXRModel, TextTokenizer
from cxrvlp.export.preprocess import ImagePreprocess, PreprocessConfig

__all__ = ["load", "from_checkpoint", "verify_checksums", "CXRModel", "TextTokenizer", "ImagePreprocess",
           "PreprocessConfig", "export_model"]


def export_model(*args, **kwargs):
    """:func:`cxrvlp.export.writer.export_model` (imported on first use)."""
    from cxrvlp.export.writer import export_model as _export

    return _export(*args, **kwargs)
