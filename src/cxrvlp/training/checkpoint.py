"""Checkpoint helpers: content hash for provenance, RNG state for exact resumption, strict model loading."""
from __future__ import annotations

import hashlib
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class RNGState(L.Callback):
    """Save the RNG states in each checkpoint and restore them when training restarts from it, so a resumed run
    draws the same shuffles, crops and dropout masks as an uninterrupted one. Restored at ``on_train_start``
    (after any sanity-check validation, which also draws from the RNG)."""

    def __init__(self):
        self._pending = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        states = _collect_rng_states()
        # numpy's state holds an ndarray, which torch's weights-only unpickler refuses: store it as a list
        kind, keys, *rest = states["numpy"]
        states["numpy"] = [kind, keys.tolist(), *rest]
        checkpoint["rng_states"] = states

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._pending = checkpoint.get("rng_states")

    def on_train_start(self, trainer, pl_module) -> None:
        if self._pending is not None:
            states = dict(self._pending)
            kind, keys, *rest = states["numpy"]
            states["numpy"] = (kind, np.asarray(keys, dtype=np.uint32), *rest)
            _set_rng_states(states)
            self._pending = None


def load_model(path: str | Path, map_location: str = "cpu"):
    """Rebuild the model from the config stored in a checkpoint and load its weights strictly.

    Encoder weights come from the checkpoint, so the recipe's ``pretrained`` source is not read again. Any
    missing or unexpected key is an error.
    """
    from cxrvlp.methods import build_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    try:
        config = ckpt["hyper_parameters"]["config"]
    except KeyError as e:
        raise ValueError(f"{path}: not a cxrvlp checkpoint (no hyper_parameters.config)") from e
    config = {**config, "image_encoder": {**config["image_encoder"], "pretrained": None}}
    lateral = (config.get("model_options") or {}).get("lateral_encoder")
    if lateral:  # multi-view recipes: the lateral encoder's weights are in the checkpoint as well
        config["model_options"] = {**config["model_options"], "lateral_encoder": {**lateral, "pretrained": None}}
    model = build_model(config)
    result = model.load_state_dict(ckpt["state_dict"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(f"{path}: checkpoint does not match its recipe: missing {result.missing_keys[:10]}, "
                           f"unexpected {result.unexpected_keys[:10]}")
    model.eval()
    model.checkpoint_path, model.checkpoint_sha256 = str(path), file_sha256(path)
    return model
