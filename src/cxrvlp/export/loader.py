"""``model, preprocess, tokenizer = cxrvlp.load(path)``: an export folder (``cxrvlp export``) or a ``.ckpt``.

An **export folder** needs nothing outside it: the weights (``model.safetensors``, read with safetensors: no pickle),
the recipe and preprocessing (``config.json``), the tokenizer and text model config (``text/``). Every file listed in
``SHA256SUMS`` is checked first; a changed byte, a missing file, a missing or an unexpected weight is an error.

A **checkpoint** (``cxrvlp pretrain``'s ``.ckpt``, read with ``weights_only=True``) rebuilds its recipe, which may
name a local text model folder (``text_encoder.path``). If that folder has moved: pass ``text_path=NEW`` (the
tokenizer too, unless ``text_encoder.tokenizer_path`` names another folder that still exists), export the run once
with ``cxrvlp export RUN --out DIR --text-path NEW`` and load the folder from then on, or load the image side
alone with ``text=False`` (never reads the text folder; ``tokenizer`` is then ``None``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from cxrvlp.export.model import CXRModel, TextTokenizer
from cxrvlp.export.preprocess import ImagePreprocess, PreprocessConfig, set_training_data_config

FORMAT = "cxrvlp-export"
FORMAT_VERSION = 1
CHECKSUMS = "SHA256SUMS"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TEXT_DIR = "text"
IMAGE_DIR = "image"
MAX_LOGIT_SCALE = 100.0  # objectives.infonce.MAX_LOGIT_SCALE: a learnable temperature is clamped to it


def load(path: str | Path, text: bool = True, text_path: str | Path | None = None,
         map_location: str | torch.device = "cpu") -> tuple[CXRModel, ImagePreprocess, TextTokenizer | None]:
    """``(model, preprocess, tokenizer)`` of an export folder or a pre-training checkpoint (module docstring).

    ``model``: :class:`~cxrvlp.export.model.CXRModel` in eval mode (``encode_image``, ``encode_text``,
    ``image_encoder`` for local features, ``logit_scale``); ``preprocess``: any image → ``[C, crop, crop]``
    (:class:`~cxrvlp.export.preprocess.ImagePreprocess`); ``tokenizer``: texts → ``{"input_ids",
    "attention_mask"}`` (``None`` with ``text=False``). ``text_path``: checkpoints only, the new place of a moved
    local text model folder. ``map_location``: the device the model is put on (``preprocess`` gives CPU tensors)."""
    path = Path(path).expanduser()
    if path.is_dir() and (path / CONFIG).is_file():
        if text_path is not None:
            raise ValueError(f"{path}: an export folder carries its text model; text_path is for checkpoints")
        model = _from_export(path, text, map_location)
    elif path.is_file():
        model = from_checkpoint(path, text=text, text_path=text_path, map_location=map_location)
    elif path.is_dir():
        raise FileNotFoundError(f"{path}: no {CONFIG} here: not a cxrvlp export folder (for a run folder, give its "
                                "checkpoints/last.ckpt, or export it with `cxrvlp export`)")
    else:
        raise FileNotFoundError(f"{path}: no such export folder or checkpoint")
    model.to(map_location)
    preprocess = ImagePreprocess(model.config["preprocess"])
    tokenizer = None
    if model.has_text:
        tokenizer = TextTokenizer(model.text_encoder.tokenizer, model.text_encoder.max_length,
                                  model.text_encoder.padding)
    return model, preprocess, tokenizer


# -- export folders ------------------------------------------------------------------------------------------------
def verify_checksums(folder: str | Path) -> dict[str, str]:
    """Check every file ``SHA256SUMS`` lists (``sha256sum`` format); ``config.json`` and ``model.safetensors`` must
    be among them. Returns ``{relative path: hex digest}``; anything wrong is a :class:`ValueError` naming the file."""
    from cxrvlp.methods.loading import file_sha256

    folder = Path(folder)
    sums = folder / CHECKSUMS
    if not sums.is_file():
        raise ValueError(f"{folder}: no {CHECKSUMS}: not a complete cxrvlp export (export it again)")
    listed: dict[str, str] = {}
    for n, line in enumerate(sums.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        name = name.lstrip("*")
        if not sep or len(digest) != 64 or not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"{sums}, line {n}: not a '<sha256>  <relative path>' line: {line!r}")
        listed[name] = digest.lower()
    for required in (CONFIG, WEIGHTS):
        if required not in listed:
            raise ValueError(f"{sums} does not list {required}: not a complete cxrvlp export")
    for name, digest in listed.items():
        file = folder / name
        if not file.is_file():
            raise ValueError(f"{file}: listed in {CHECKSUMS} but missing")
        found = file_sha256(file)
        if found != digest:
            raise ValueError(f"{file}: SHA-256 mismatch (expected {digest[:16]}..., found {found[:16]}...): the file "
                             "changed after export; refused")
    return listed


def _from_export(folder: Path, text: bool, map_location) -> CXRModel:
    from safetensors.torch import load_file

    from cxrvlp.encoders import build_image_encoder
    from cxrvlp.layers.projection import build_head

    verify_checksums(folder)
    config = json.loads((folder / CONFIG).read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{folder / CONFIG}: format {config.get('format')!r}, not {FORMAT!r}")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{folder}: export format version {config['format_version']} is newer than this cxrvlp "
                         f"reads ({FORMAT_VERSION}); upgrade cxrvlp")
    image_encoder = build_image_encoder(dict(config["image_encoder"]["options"], pretrained=None))
    image_proj = build_head(image_encoder.global_dim, **config["projection"])
    text_encoder = text_proj = None
    if text:
        if not config.get("text_encoder", {}).get("folder"):
            raise ValueError(f"{folder}: exported without its text tower; load it with text=False")
        text_encoder = _text_tower(folder / config["text_encoder"]["folder"], config["text_encoder"])
        text_proj = build_head(text_encoder.global_dim, **config["projection"])
    model = CXRModel(image_encoder, image_proj, text_encoder, text_proj, config=config,
                     logit_scale=(config.get("logit_scale") or {}).get("value"))
    model.load_weights(load_file(str(folder / WEIGHTS), device=str(map_location)), str(folder / WEIGHTS))
    set_training_data_config(image_encoder, PreprocessConfig.from_dict(config["preprocess"]))
    model.source = str(folder)
    return model


def _text_tower(folder: Path, described: dict):
    """The text encoder from ``text/`` (config + tokenizer; its weights come from ``model.safetensors``)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from cxrvlp.encoders.text import HFTextEncoder

    hf_config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_config(hf_config)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return HFTextEncoder(model, tokenizer, name=described["name"], pooling=described["pooling"],
                         max_length=described["max_length"], padding=described.get("padding", "longest"),
                         source=str(folder))


# -- checkpoints ---------------------------------------------------------------------------------------------------
def from_checkpoint(path: str | Path, text: bool = True, text_path: str | Path | None = None,
                    map_location: str | torch.device = "cpu") -> CXRModel:
    """The :class:`CXRModel` of a pre-training checkpoint (strict: every weight of the towers and projections)."""
    from cxrvlp.encoders import build_image_encoder
    from cxrvlp.layers.projection import build_head
    from cxrvlp.methods.loading import (
        _without_pretrained_sources,
        check_text_source,
        file_sha256,
        read_checkpoint,
        upgrade_state_dict,
        with_text_path,
    )
    from cxrvlp.methods.registry import build_model
    from cxrvlp.recipe import from_dict

    path = Path(path)
    ckpt = read_checkpoint(path, map_location)
    try:
        raw = ckpt["hyper_parameters"]["config"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a cxrvlp checkpoint (no hyper_parameters.config)") from e
    raw = with_text_path(raw, text_path)
    cfg = from_dict(_without_pretrained_sources(raw))
    state = upgrade_state_dict(ckpt["state_dict"])
    if text:
        check_text_source(cfg.text_encoder, path)
        recipe_model = build_model(cfg)
        image_encoder, image_proj = recipe_model.image_encoder, recipe_model.image_proj
        text_encoder, text_proj = recipe_model.text_encoder, recipe_model.text_proj
    else:  # the image side alone, built as every registered model builds it (DualEncoder), no text folder read
        image_encoder = build_image_encoder(cfg.image_encoder)
        image_proj = build_head(image_encoder.global_dim, **cfg.projection)
        text_encoder = text_proj = None
    sha = file_sha256(path)
    config = describe(cfg, image_encoder, text_encoder, logit_scale_of(cfg.objectives, state))
    config["source"] = {"checkpoint": str(path), "checkpoint_sha256": sha, "epoch": ckpt.get("epoch"),
                        "global_step": ckpt.get("global_step")}
    model = CXRModel(image_encoder, image_proj, text_encoder, text_proj, config=config,
                     logit_scale=(config["logit_scale"] or {}).get("value"))
    prefix = "model."
    model.load_weights({k[len(prefix):]: v for k, v in state.items()
                        if k.startswith(tuple(f"{prefix}{p}." for p in ("image_encoder", "image_proj", "text_encoder",
                                                                         "text_proj")))}, str(path))
    set_training_data_config(image_encoder, PreprocessConfig.from_dict(config["preprocess"]))
    model.source = str(path)
    return model


def logit_scale_of(objectives: dict, state: dict) -> dict | None:
    """``{"value": 1/temperature, "objective": term, "inputs": [...], "learnable": bool}`` of the first enabled
    image-text contrastive term of a recipe (one that reads ``text_emb`` and keeps a ``log_scale``), from the
    checkpoint's weights; ``None`` when the recipe has none."""
    from cxrvlp.objectives.registry import _parse

    for term, spec in objectives.items():
        _, _, enabled, inputs, kwargs = _parse(term, spec)
        key = f"objectives.{term}.loss.log_scale"
        if not enabled or "text_emb" not in inputs or key not in state:
            continue
        learnable = bool(kwargs.get("learnable", False))
        value = math.exp(float(state[key]))
        if learnable:
            value = min(value, MAX_LOGIT_SCALE)
        return {"value": value, "objective": term, "inputs": list(inputs), "learnable": learnable}
    return None


def describe(cfg, image_encoder, text_encoder, logit_scale: dict | None) -> dict:
    """The ``config.json`` of an export (less ``source``): recipe, encoders and their options, embedding width,
    preprocessing, logit scale, where the plain timm / transformers copies are."""
    from cxrvlp import __version__

    pre = PreprocessConfig.of(image_encoder, cfg.data)
    image_options = {k: v for k, v in cfg.image_encoder.items() if k not in ("pretrained", "checkpoint_prefix")}
    timm_args = {"in_chans": image_encoder.in_chans, "num_classes": 0, **image_encoder._create_kwargs(),
                 **(cfg.image_encoder.get("timm_kwargs") or {})}
    timm_args = json.loads(json.dumps(timm_args))  # tuples → lists, as JSON keeps them
    text_cfg = dict(cfg.text_encoder)
    text = {"name": text_cfg.get("name"), "recipe_options": text_cfg,
            "folder": TEXT_DIR if text_encoder is not None else None}
    if text_encoder is not None:
        text.update(pooling=text_encoder.pooling, max_length=text_encoder.max_length, padding=text_encoder.padding,
                    global_dim=text_encoder.global_dim, token_dim=text_encoder.token_dim,
                    vocab_size=text_encoder.vocab_size, architecture=type(text_encoder.model).__name__,
                    tokenizer=type(text_encoder.tokenizer).__name__, source=text_encoder.source)
    crop = pre.crop
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "cxrvlp_version": __version__,
        "recipe_name": cfg.name, "model": cfg.model,
        "embed_dim": int(cfg.projection.get("dim", 512)),
        "projection": dict(cfg.projection),
        "image_encoder": {"name": image_encoder.name, "options": image_options, "timm_model": image_encoder.timm_name,
                          "family": image_encoder.family, "in_chans": image_encoder.in_chans,
                          "global_dim": image_encoder.global_dim, "local_dim": image_encoder.local_dim,
                          "reduction": image_encoder.reduction,
                          "grid": list(image_encoder.feature_grid(crop)) if image_encoder.family == "cnn"
                          else list(image_encoder.grid)},
        "text_encoder": text,
        "preprocess": pre.to_dict(),
        "logit_scale": logit_scale,
        "timm": {"folder": IMAGE_DIR, "file": f"{IMAGE_DIR}/{WEIGHTS}", "model_name": image_encoder.timm_name,
                 "create_model_kwargs": timm_args,
                 "pretrained_cfg_overlay": {"input_size": [pre.in_chans, crop, crop], "mean": list(pre.mean),
                                            "std": list(pre.std), "crop_pct": crop / pre.resize}},
        "recipe": cfg.to_dict(),
    }
