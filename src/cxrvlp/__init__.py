"""cxrvlp: chest X-ray vision-language pre-training."""

__version__ = "0.1.0"
