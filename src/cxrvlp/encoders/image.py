"""Image encoders: timm backbones (never hub downloads) giving a global vector and a grid of local tokens.

Config (a mapping; unknown keys are errors)::

    name:          registered name (see ``list_image_encoders()``)
    pretrained:    None (random init) | local checkpoint path (.pt/.pth/.bin/.ckpt/.safetensors)
                   | an offline tag of that encoder (efficientnet_lite0: "imagenet-offline")
    checkpoint_prefix: keep only checkpoint keys under this prefix (e.g. "image_encoder.model."), stripped
    in_chans:      1 (default, grayscale) or 3; 3-channel weights into a 1-channel stem sum the RGB kernels
    img_size:      int or [H, W] (default: the timm architecture's, 224). ViT/Swin are built for it; CNNs take
                   any size, img_size only sets data_config["input_size"] and ``grid``
    mean, std:     override the normalisation reported by data_config (one value per channel)
    drop_path_rate: stochastic depth, passed to timm
    timm_kwargs:   extra keyword arguments for ``timm.create_model``
    local_index:   CNNs only: timm feature index of the local grid (None = last feature map before the head)

Families and what ``local_features`` are:
    cnn   - ResNet: layer3 map (as MGCA; global = layer4 pooled). EfficientNet: the last feature map before the
            head (after conv_head/bn2; global = its average pool).
    vit   - patch tokens after the final norm (global = timm pre-logits, i.e. CLS for vit_base).
    swin  - last-stage tokens after the final norm (global = their average pool).
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import timm
import torch
from torch import nn

from . import efficientnet_lite
from .checkpoint import LoadReport, load_state_dict_strict, read_state_dict
from .features import ImageFeatures
from .registry import check_keys, register_image_encoder

COMMON_KEYS = {"pretrained", "checkpoint_prefix", "in_chans", "img_size", "mean", "std", "drop_path_rate",
               "timm_kwargs"}
HALF = 0.5


def _pair(size) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(s) for s in size)
    if len(size) == 1:
        return (size[0], size[0])
    if len(size) != 2:
        raise ValueError(f"img_size must be an int or [H, W], got {size}")
    return size


class TimmImageEncoder(nn.Module):
    """Base class: builds the timm model, loads weights strictly, exposes dims and ``data_config``.

    Subclasses implement ``_encode(images, return_attentions) -> ImageFeatures``.
    """

    family = "base"
    family_keys: set[str] = set()
    supports_attentions = False

    def __init__(self, timm_name: str, cfg: Mapping, *,
                 offline_weights: Mapping[str, Callable[[], dict]] | None = None,
                 convert: Callable[[dict], tuple[dict, str | None]] | None = None):
        super().__init__()
        cfg = dict(cfg)
        self.name = cfg.get("name", timm_name)
        check_keys(cfg, COMMON_KEYS | self.family_keys, f"image encoder {self.name!r}")
        self.cfg = cfg
        self.timm_name = timm_name
        self.in_chans = int(cfg.get("in_chans", 1))
        default_cfg = timm.models.get_pretrained_cfg(timm_name)
        default_size = default_cfg.input_size[1:] if default_cfg is not None else (224, 224)
        self.img_size = _pair(cfg.get("img_size") or default_size)

        kwargs = dict(pretrained=False, in_chans=self.in_chans, num_classes=0)
        kwargs.update(self._create_kwargs())
        if cfg.get("drop_path_rate") is not None:
            kwargs["drop_path_rate"] = float(cfg["drop_path_rate"])
        kwargs.update(cfg.get("timm_kwargs") or {})
        self.model = timm.create_model(timm_name, **kwargs)

        self.load_report: LoadReport | None = None
        pretrained = cfg.get("pretrained")
        self.pretrained = None if pretrained is None else str(pretrained)
        if pretrained is not None:
            self.load_report = self._load_weights(str(pretrained), offline_weights or {}, convert,
                                                  cfg.get("checkpoint_prefix"))
        self.data_config = self._data_config(cfg)

    # -- construction helpers ------------------------------------------------------------------------------
    def _create_kwargs(self) -> dict:
        return {}

    def _filter_checkpoint(self, sd: dict) -> dict:
        return sd

    def _load_weights(self, pretrained: str, offline: Mapping[str, Callable[[], dict]], convert,
                      prefix: str | None) -> LoadReport:
        if pretrained in offline:
            sd, source = offline[pretrained](), pretrained
            converted = None
        else:
            if not Path(pretrained).expanduser().is_file():
                tags = f"; offline tags for {self.name!r}: {sorted(offline)}" if offline else \
                    f"; {self.name!r} has no offline weights, give a local checkpoint path"
                raise FileNotFoundError(f"pretrained={pretrained!r} is neither a file nor a known tag{tags}")
            sd = read_state_dict(Path(pretrained).expanduser(), prefix=prefix)
            source = pretrained
            sd, converted = convert(sd) if convert is not None else (sd, None)
        before = {k: tuple(v.shape) for k, v in sd.items()}
        sd = self._filter_checkpoint(sd)
        report = LoadReport(source=source, converted_from=converted)
        for k, v in sd.items():
            if k in before and before[k] != tuple(v.shape):
                report.adapted.append(f"{k}: {before[k]} -> {tuple(v.shape)} (timm checkpoint filter)")
        pcfg = self.model.pretrained_cfg
        return load_state_dict_strict(self.model, sd, source=source, report=report,
                                      head_prefixes=pcfg.get("classifier") or (),
                                      first_conv=pcfg.get("first_conv"))

    def _data_config(self, cfg: Mapping) -> dict:
        n = self.in_chans
        if cfg.get("mean") is not None or cfg.get("std") is not None:
            mean = tuple(float(m) for m in _as_list(cfg.get("mean", HALF), n))
            std = tuple(float(s) for s in _as_list(cfg.get("std", HALF), n))
        elif self.pretrained is None:
            mean, std = (HALF,) * n, (HALF,) * n
        else:  # the convention the architecture's pretrained weights were trained with (timm pretrained_cfg)
            pm = tuple(self.model.pretrained_cfg.get("mean", (HALF,) * 3))
            ps = tuple(self.model.pretrained_cfg.get("std", (HALF,) * 3))
            if n == len(pm):
                mean, std = pm, ps
            else:  # grayscale (or other): the average over the RGB values, one per channel
                mean, std = (sum(pm) / len(pm),) * n, (sum(ps) / len(ps),) * n
        for name, v in (("mean", mean), ("std", std)):
            if len(v) != n:
                raise ValueError(f"image encoder {self.name!r}: {name} has {len(v)} values for in_chans={n}")
        return {"mean": mean, "std": std, "input_size": (n, *self.img_size)}

    # -- dims ----------------------------------------------------------------------------------------------
    @property
    def global_dim(self) -> int:
        return int(getattr(self.model, "head_hidden_size", None) or self.model.num_features)

    @property
    def local_dim(self) -> int:
        raise NotImplementedError

    @property
    def reduction(self) -> int:
        raise NotImplementedError

    def feature_grid(self, input_size: tuple[int, int] | int | None = None) -> tuple[int, int]:
        """Local-token grid (h, w) for an input of ``input_size`` (default: the configured img_size)."""
        h, w = _pair(input_size) if input_size is not None else self.img_size
        r = self.reduction
        return (math.ceil(h / r), math.ceil(w / r))

    @property
    def grid(self) -> tuple[int, int]:
        return self.feature_grid()

    @property
    def num_local(self) -> int:
        h, w = self.grid
        return h * w

    # -- forward -------------------------------------------------------------------------------------------
    def forward(self, images: torch.Tensor, return_attentions: bool = False) -> ImageFeatures:
        if images.ndim != 4 or images.shape[1] != self.in_chans:
            raise ValueError(f"image encoder {self.name!r} expects [B, {self.in_chans}, H, W], "
                             f"got {tuple(images.shape)}")
        if return_attentions and not self.supports_attentions:
            raise NotImplementedError(f"image encoder {self.name!r} ({self.family}) has no CLS attention")
        return self._encode(images, return_attentions)

    def _encode(self, images: torch.Tensor, return_attentions: bool) -> ImageFeatures:
        raise NotImplementedError

    def forward_intermediates(self, images: torch.Tensor, indices: int | list[int] | None = None,
                              norm: bool = False) -> list[torch.Tensor]:
        """Feature maps ``[B, C_i, h_i, w_i]`` of the given stages (CNN, Swin) or blocks (ViT), the same layout for
        every family (timm's ``forward_intermediates``; ``indices=None``: all, an int: the last n)."""
        return self.model.forward_intermediates(images, indices=indices, norm=norm, output_fmt="NCHW",
                                                intermediates_only=True)

    def forward_visible(self, images: torch.Tensor, visible: torch.Tensor) -> ImageFeatures:
        """Encode with only the patches where ``visible [B, h, w]`` (or ``[B, h*w]``, grid of ``feature_grid()``
        for these images) is true (masked image modelling).

        The base implementation blanks the hidden patches in pixel space (each covers ``reduction`` pixels a side;
        a SimMIM-style input mask for CNNs and Swin) and returns all ``N`` local tokens; a ViT drops the hidden
        patches from the sequence instead (:class:`TimmViTEncoder`)."""
        grid = self.feature_grid(tuple(images.shape[-2:]))
        visible = self._check_visible(visible, grid)
        r = self.reduction
        pixels = visible.view(-1, 1, *grid).to(images.dtype)
        pixels = pixels.repeat_interleave(r, -2).repeat_interleave(r, -1)[..., : images.shape[-2], : images.shape[-1]]
        return self(images * pixels)

    def _check_visible(self, visible: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        visible = visible.reshape(visible.shape[0], -1).bool()
        if visible.shape[1] != grid[0] * grid[1]:
            raise ValueError(f"image encoder {self.name!r}: visible mask has {visible.shape[1]} patches, the grid "
                             f"{grid} has {grid[0] * grid[1]}")
        return visible

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, timm={self.timm_name!r}, in_chans={self.in_chans}, img_size={self.img_size}, "
                f"global_dim={self.global_dim}, local_dim={self.local_dim}, pretrained={self.pretrained!r}")


def _as_list(v, n: int) -> list:
    if isinstance(v, (int, float)):
        return [v] * n
    return list(v)


class TimmCNNEncoder(TimmImageEncoder):
    family = "cnn"
    family_keys = {"local_index"}

    def __init__(self, timm_name: str, cfg: Mapping, *, local_index: int | None = None, **kw):
        super().__init__(timm_name, cfg, **kw)
        self.local_index = self.cfg.get("local_index", local_index)
        n_feat = len(self.model.feature_info)
        if self.local_index is not None and not 0 <= self.local_index < n_feat:
            raise ValueError(f"image encoder {self.name!r}: local_index {self.local_index} not in [0, {n_feat})")

    @property
    def local_dim(self) -> int:
        if self.local_index is None:
            return int(self.model.num_features)
        return int(self.model.feature_info[self.local_index]["num_chs"])

    @property
    def reduction(self) -> int:
        idx = -1 if self.local_index is None else self.local_index
        return int(self.model.feature_info[idx]["reduction"])

    def _encode(self, images, return_attentions):
        m = self.model
        if self.local_index is None:
            fmap = m.forward_features(images)
            local_map = fmap
        else:
            fmap, (local_map,) = m.forward_intermediates(images, indices=[self.local_index])
        global_features = m.forward_head(fmap, pre_logits=True)
        h, w = local_map.shape[-2:]
        return ImageFeatures(global_features, local_map.flatten(2).transpose(1, 2), (int(h), int(w)))


class _FixedSizeEncoder(TimmImageEncoder):
    """A transformer built for one input size, whose checkpoints go through its timm module's
    ``checkpoint_filter_fn`` (position embeddings / relative-position tables resized to that size)."""
    timm_module = ""

    def _create_kwargs(self) -> dict:
        return {"img_size": self.img_size}

    def _filter_checkpoint(self, sd):
        return importlib.import_module(self.timm_module).checkpoint_filter_fn(sd, self.model)

    def _check_size(self, input_size) -> None:
        if input_size is not None and _pair(input_size) != self.img_size:
            raise ValueError(f"{self.name!r} is built for img_size {self.img_size}")

    def feature_grid(self, input_size=None):
        self._check_size(input_size)
        return super().feature_grid()


class TimmViTEncoder(_FixedSizeEncoder):
    family = "vit"
    supports_attentions = True
    timm_module = "timm.models.vision_transformer"

    @property
    def local_dim(self) -> int:
        return int(self.model.embed_dim)

    @property
    def reduction(self) -> int:
        return int(self.model.patch_embed.patch_size[0])

    def feature_grid(self, input_size=None):
        self._check_size(input_size)
        return tuple(int(g) for g in self.model.patch_embed.grid_size)

    def _encode(self, images, return_attentions):
        m = self.model
        npre = int(m.num_prefix_tokens)
        attn = None
        if not return_attentions:
            tokens = m.forward_features(images)
        else:
            if len(m.blocks) < 2 or npre < 1:
                raise NotImplementedError(f"{self.name!r}: CLS attention needs a class token and >= 2 blocks")
            tokens, (inter,) = m.forward_intermediates(images, indices=[len(m.blocks) - 2], output_fmt="NLC",
                                                       return_prefix_tokens=True)
            spatial, prefix = inter
            attn = cls_attention(m.blocks[-1], torch.cat([prefix, spatial], dim=1))[:, npre:]
        global_features = m.forward_head(tokens, pre_logits=True)
        grid = tuple(int(g) for g in m.patch_embed.grid_size)
        return ImageFeatures(global_features, tokens[:, npre:], grid, attn)


    def forward_visible(self, images: torch.Tensor, visible: torch.Tensor) -> ImageFeatures:
        """MAE-style: the hidden patches never enter the transformer. Every image must keep the same number ``K``
        of patches; ``local_features [B, K, C]`` in grid order with their positions in ``token_index [B, K]``."""
        m = self.model
        visible = self._check_visible(visible, self.feature_grid())
        counts = visible.sum(dim=1)
        if counts.numel() and not bool((counts == counts[0]).all()):
            raise ValueError(f"image encoder {self.name!r}: every image must keep the same number of patches, got "
                             f"{sorted(set(counts.tolist()))}")
        k = int(counts[0]) if counts.numel() else 0
        keep = torch.argsort((~visible).to(torch.int8), dim=1, stable=True)[:, :k]  # visible first, in grid order
        npre = int(m.num_prefix_tokens)
        x = m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(images))))
        patches = x[:, npre:].gather(1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = m.norm(m.blocks(torch.cat([x[:, :npre], patches], dim=1)))
        grid = tuple(int(g) for g in m.patch_embed.grid_size)
        return ImageFeatures(m.forward_head(x, pre_logits=True), x[:, npre:], grid, token_index=keep)


def cls_attention(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """CLS-to-token attention of a timm ViT ``Block`` for its input ``x [B, N, D]``: ``[B, N]``, head-averaged.

    Recomputes the block's softmax(q k^T / sqrt(d)) for the CLS query from its own norm1/qkv/q_norm/k_norm
    modules (the fused SDPA path never materialises the matrix). Only the first query row is formed.
    """
    from timm.layers import Attention

    attn = getattr(block, "attn", None)
    if not isinstance(attn, Attention) or not hasattr(block, "norm1"):
        raise NotImplementedError(f"CLS attention is implemented for timm Block/Attention, not {type(block)}")
    y = block.norm1(x)
    B, N, _ = y.shape
    qkv = attn.qkv(y).reshape(B, N, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0][:, :, :1]), attn.k_norm(qkv[1])
    scores = (q * attn.scale) @ k.transpose(-2, -1)  # [B, heads, 1, N]
    return scores.softmax(dim=-1).mean(dim=1)[:, 0]


class TimmSwinEncoder(_FixedSizeEncoder):
    family = "swin"
    timm_module = "timm.models.swin_transformer"

    @property
    def local_dim(self) -> int:
        return int(self.model.num_features)

    @property
    def reduction(self) -> int:
        return int(self.model.feature_info[-1]["reduction"])

    def _encode(self, images, return_attentions):
        m = self.model
        tokens = m.forward_features(images)  # [B, h, w, C] (NHWC), final norm applied
        global_features = m.forward_head(tokens, pre_logits=True)
        h, w = tokens.shape[1:3]
        return ImageFeatures(global_features, tokens.flatten(1, 2), (int(h), int(w)))


FAMILIES = {"cnn": TimmCNNEncoder, "vit": TimmViTEncoder, "swin": TimmSwinEncoder}


# -- builders: one line per registered encoder --------------------------------------------------------------
def timm_cnn(timm_name: str, local_index: int | None = None, **kw):
    return lambda cfg: TimmCNNEncoder(timm_name, cfg, local_index=local_index, **kw)


def timm_vit(timm_name: str, **kw):
    return lambda cfg: TimmViTEncoder(timm_name, cfg, **kw)


def timm_swin(timm_name: str, **kw):
    return lambda cfg: TimmSwinEncoder(timm_name, cfg, **kw)


def _any_timm(cfg: Mapping) -> TimmImageEncoder:
    """``{"name": "timm", "model": "<timm name>", "family": "cnn"|"vit"|"swin", ...}`` for unregistered ones."""
    cfg = dict(cfg)
    model, family = cfg.pop("model", None), cfg.pop("family", "cnn")
    if not model or family not in FAMILIES:
        raise ValueError(f"image encoder 'timm' needs model=<timm name> and family in {sorted(FAMILIES)}")
    return FAMILIES[family](model, cfg)


_LITE0 = dict(offline_weights={"imagenet-offline": efficientnet_lite.imagenet_offline_state_dict},
              convert=efficientnet_lite.maybe_convert)

register_image_encoder("resnet50", timm_cnn("resnet50", local_index=3))
register_image_encoder("efficientnet_lite0", timm_cnn(efficientnet_lite.TIMM_ARCH, **_LITE0))
register_image_encoder("vit_base_patch16_224", timm_vit("vit_base_patch16_224"))
register_image_encoder("swin_tiny_patch4_window7_224", timm_swin("swin_tiny_patch4_window7_224"))
# tiny random timm models for tests
register_image_encoder("test_resnet", timm_cnn("test_resnet", local_index=3))
register_image_encoder("test_efficientnet", timm_cnn("test_efficientnet"))
register_image_encoder("test_vit", timm_vit("test_vit"))
register_image_encoder("timm", _any_timm)
