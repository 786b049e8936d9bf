"""Reading local checkpoints and loading them strictly into an image backbone.

Strict means: every model weight must be present, every checkpoint weight must be used, and shapes must match.
The only tolerated differences, each reported in :class:`LoadReport`:

- classifier-head weights in the checkpoint (the encoders have no head): dropped;
- a first convolution with a different number of input channels (3-channel weights into a 1-channel stem):
  adapted with timm's ``adapt_input_conv`` (for 1 channel: the RGB kernels are summed);
- ``*.num_batches_tracked`` missing from an old checkpoint (PyTorch fills it in itself);
- what the backbone family's own timm checkpoint filter does (ViT position-embedding / Swin relative-bias
  resampling when the image size differs), recorded as ``adapted`` entries.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

WRAPPER_KEYS = ("state_dict", "model")


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not match the model: missing / unexpected keys or shape mismatches (all named)."""


@dataclass
class LoadReport:
    source: str
    loaded: int = 0
    dropped_head_keys: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    converted_from: str | None = None

    def summary(self) -> str:
        parts = [f"loaded {self.loaded} tensors from {self.source}"]
        if self.converted_from:
            parts.append(f"converted from {self.converted_from} naming")
        if self.dropped_head_keys:
            parts.append(f"dropped classifier head {self.dropped_head_keys}")
        if self.adapted:
            parts.append("adapted " + "; ".join(self.adapted))
        return ", ".join(parts)


def _names(keys: Iterable[str], limit: int = 40) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


def read_state_dict(path: str | Path, prefix: str | None = None) -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` from a torch (``.pt/.pth/.bin/.ckpt``) or ``.safetensors`` file.

    Unwraps a ``state_dict`` / ``model`` wrapper key (nested ones too), strips a DDP ``module.`` prefix and, with
    ``prefix`` (e.g. ``"image_encoder.model."`` for a training checkpoint), keeps only the keys under it, stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj = load_file(str(path), device="cpu")
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle with arbitrary objects: refuse rather than execute it
            raise CheckpointMismatchError(
                f"{path}: cannot be read with torch.load(weights_only=True) ({exc}); "
                "save a plain state dict (or safetensors) instead") from exc
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointMismatchError(f"{path}: expected a state dict, got {type(obj).__name__}")
    sd = {str(k): v for k, v in obj.items()}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if prefix:
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if not sd:
            raise CheckpointMismatchError(f"{path}: no key starts with checkpoint_prefix {prefix!r}")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointMismatchError(f"{path}: non-tensor entries {_names(bad)}; is this a state dict?")
    return sd


def _as_tuple(x) -> tuple[str, ...]:
    if not x:
        return ()
    return (x,) if isinstance(x, str) else tuple(x)


def load_state_dict_strict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str,
    head_prefixes: Iterable[str] = (),
    first_conv: str | Iterable[str] | None = None,
    report: LoadReport | None = None,
) -> LoadReport:
    """Load ``state_dict`` into ``model`` strictly (see the module docstring); returns what was done."""
    report = report or LoadReport(source=source)
    sd = dict(state_dict)
    model_sd = model.state_dict()
    heads = _as_tuple(head_prefixes)

    for k in list(sd):
        if k not in model_sd and any(k == h or k.startswith(h + ".") for h in heads):
            report.dropped_head_keys.append(k)
            del sd[k]

    for conv in _as_tuple(first_conv):
        k = conv + ".weight"
        if k in sd and k in model_sd and sd[k].ndim == 4 and sd[k].shape[1] != model_sd[k].shape[1] \
                and sd[k].shape[0] == model_sd[k].shape[0] and sd[k].shape[2:] == model_sd[k].shape[2:]:
            from timm.models import adapt_input_conv

            in_chans = model_sd[k].shape[1]
            report.adapted.append(f"{k}: {sd[k].shape[1]} -> {in_chans} input channels (adapt_input_conv)")
            sd[k] = adapt_input_conv(in_chans, sd[k])

    missing = [k for k in model_sd if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in model_sd]
    mismatched = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(model_sd[k].shape)}"
                  for k in sd if k in model_sd and sd[k].shape != model_sd[k].shape]
    if missing or unexpected or mismatched:
        lines = [f"checkpoint {source} does not match {type(model).__name__}:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {_names(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {_names(unexpected)}")
        if mismatched:
            lines.append(f"  shape mismatches ({len(mismatched)}): {_names(mismatched)}")
        raise CheckpointMismatchError("\n".join(lines))

    model.load_state_dict(sd, strict=False)  # completeness was checked above (num_batches_tracked may be absent)
    report.loaded = len(sd)
    log.info("image encoder weights: %s", report.summary())
    return report
