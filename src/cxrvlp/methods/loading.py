"""Build a recipe's model and objectives, and load them back from a pre-training checkpoint (strictly).

A checkpoint's ``state_dict`` holds ``model.*`` (the :mod:`registered model <cxrvlp.methods.registry>`) and
``objectives.*`` (their parameters: temperatures, prototypes, similarity heads). Checkpoints written before the
model and the training task were separated hold the model's keys without the ``model.`` prefix; they are read
as well.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cxrvlp.methods.registry import build_model
from cxrvlp.objectives import build_objectives
from cxrvlp.recipe import RecipeConfig, from_dict


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def build_pretraining(config: dict | RecipeConfig) -> tuple[nn.Module, nn.ModuleDict]:
    """The recipe's model (building only the branches its objectives read) and its objectives, whose widths come
    from the model's outputs."""
    cfg = config if isinstance(config, RecipeConfig) else from_dict(config)
    model = build_model(cfg)
    return model, build_objectives(cfg.objectives, model.output_dims())


@dataclass
class Pretrained:
    model: nn.Module
    objectives: nn.ModuleDict
    config: RecipeConfig
    path: str
    sha256: str


def _without_pretrained_sources(config: dict) -> dict:
    """Encoder weights come from the checkpoint: the recipe's ``pretrained`` sources are not read again."""
    config = {**config, "image_encoder": {**config["image_encoder"], "pretrained": None}}
    lateral = (config.get("model_options") or {}).get("lateral_encoder")
    if lateral:  # multi-view recipes: the lateral encoder's weights are in the checkpoint as well
        config["model_options"] = {**config["model_options"], "lateral_encoder": {**lateral, "pretrained": None}}
    return config


def with_text_path(config: dict, text_path: str | Path | None) -> dict:
    """The recipe dict with its local text model folder (``text_encoder.path``) moved to ``text_path`` (the
    tokenizer's too when it was read from the same folder); unchanged for ``None``."""
    if text_path is None:
        return config
    text = dict(config.get("text_encoder") or {})
    if text.get("name") != "hf":
        raise ValueError(f"text_path is for recipes with a local text model folder (text_encoder.name=hf); this one "
                         f"uses {text.get('name')!r}")
    old = text.get("path")
    text["path"] = str(text_path)
    if text.get("tokenizer_path") in (None, old):
        text.pop("tokenizer_path", None)
    return {**config, "text_encoder": text}


def check_text_source(text_encoder: dict, where: str | Path) -> None:
    """A recipe's local text model folder (and tokenizer folder) must still exist; if not, a message that says
    how to go on (``FileNotFoundError``)."""
    if text_encoder.get("name") != "hf":
        return
    for key in ("path", "tokenizer_path"):
        folder = text_encoder.get(key)
        if folder and not Path(folder).expanduser().is_dir():
            raise FileNotFoundError(
                f"{where}: the recipe's text model folder text_encoder.{key}={folder} no longer exists. Pass its new "
                "place (cxrvlp.load(..., text_path=NEW), --text-path NEW), export the run once it is found "
                "(cxrvlp export RUN --out DIR --text-path NEW; an export carries its text model), or load the image "
                "encoder alone (cxrvlp.load(..., text=False))")


def upgrade_state_dict(state: dict) -> dict:
    """Keys of a checkpoint written before the ``model.`` / ``objectives.`` split get the ``model.`` prefix."""
    if any(k.startswith("model.") for k in state):
        return state
    return {k if k.startswith("objectives.") else f"model.{k}": v for k, v in state.items()}


def read_checkpoint(path: str | Path, map_location: str = "cpu") -> dict:
    """``torch.load`` with ``weights_only=True``: tensors, numbers, strings and containers only, so a checkpoint from
    elsewhere cannot run code when it is read. Anything else is refused with a one-line reason."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: refused: the checkpoint holds pickled objects that are not plain weights, and "
                         f"cxrvlp reads checkpoints with weights_only=True so that a file cannot run code ({first})"
                         ) from e
    except (EOFError, RuntimeError) as e:
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e


def load_pretrained(path: str | Path, map_location: str = "cpu", text_path: str | Path | None = None) -> Pretrained:
    """Rebuild model and objectives from the config stored in a checkpoint and load their weights strictly: any
    missing or unexpected key is an error. The model is returned in eval mode. ``text_path``: the new place of the
    recipe's local text model folder if it has moved (:func:`with_text_path`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    ckpt = read_checkpoint(path, map_location)
    try:
        raw = ckpt["hyper_parameters"]["config"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a cxrvlp checkpoint (no hyper_parameters.config)") from e
    cfg = from_dict(_without_pretrained_sources(with_text_path(raw, text_path)))
    check_text_source(cfg.text_encoder, path)
    model, objectives = build_pretraining(cfg)
    holder = nn.ModuleDict({"model": model, "objectives": objectives})
    result = holder.load_state_dict(upgrade_state_dict(ckpt["state_dict"]), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(f"{path}: checkpoint does not match its recipe: missing {result.missing_keys[:10]}, "
                           f"unexpected {result.unexpected_keys[:10]}")
    model.eval()
    sha = file_sha256(path)
    model.checkpoint_path, model.checkpoint_sha256 = str(path), sha
    return Pretrained(model, objectives, cfg, str(path), sha)


def load_model(path: str | Path, map_location: str = "cpu", text_path: str | Path | None = None) -> nn.Module:
    """The pre-trained model of a checkpoint (:func:`load_pretrained`), in eval mode."""
    return load_pretrained(path, map_location, text_path).model
