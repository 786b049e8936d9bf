"""Name -> builder registries for image and text encoders.

A builder is a callable ``builder(cfg: dict) -> nn.Module`` that receives the whole config mapping (``name``
included). Adding an encoder is one line, e.g. in ``image.py``::

    register_image_encoder("convnext_tiny", timm_cnn("convnext_tiny", local_index=2))
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Builder = Callable[[dict], Any]


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, Builder] = {}

    def register(self, name: str, builder: Builder | None = None, *, overwrite: bool = False):
        """``register(name, builder)``, or use as a decorator: ``@register(name)``."""

        def _add(fn: Builder) -> Builder:
            if name in self._builders and not overwrite:
                raise KeyError(f"{self.kind} encoder {name!r} is already registered")
            self._builders[name] = fn
            return fn

        return _add(builder) if builder is not None else _add

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def build(self, cfg: Mapping | str):
        if isinstance(cfg, str):
            cfg = {"name": cfg}
        if not isinstance(cfg, Mapping):
            raise TypeError(f"{self.kind} encoder config must be a mapping or a name, got {type(cfg).__name__}")
        cfg = dict(cfg)
        name = cfg.get("name")
        if name not in self._builders:
            raise KeyError(f"unknown {self.kind} encoder {name!r}; registered: {self.names()}")
        return self._builders[name](cfg)


IMAGE_ENCODERS = Registry("image")
TEXT_ENCODERS = Registry("text")


def register_image_encoder(name: str, builder: Builder | None = None, *, overwrite: bool = False):
    return IMAGE_ENCODERS.register(name, builder, overwrite=overwrite)


def register_text_encoder(name: str, builder: Builder | None = None, *, overwrite: bool = False):
    return TEXT_ENCODERS.register(name, builder, overwrite=overwrite)


def list_image_encoders() -> list[str]:
    return IMAGE_ENCODERS.names()


def list_text_encoders() -> list[str]:
    return TEXT_ENCODERS.names()


def check_keys(cfg: Mapping, allowed: set[str], where: str) -> None:
    """Unknown config keys are errors, so a typo never silently falls back to a default."""
    unknown = set(cfg) - allowed - {"name"}
    if unknown:
        raise KeyError(f"{where}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
