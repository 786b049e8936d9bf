"""Recipe files (YAML) → typed config, with ``base:`` inheritance and ``key.sub=value`` command-line overrides.

A recipe is a YAML mapping with the sections ``image_encoder``, ``text_encoder``, ``projection``, ``objectives``,
``optim``, ``data``, ``trainer``, ``model`` + ``model_options`` (and ``base`` to inherit from another recipe by
name or path). Unknown keys in the typed sections are errors, so a typo never silently falls back to a default;
``model_options`` are typed by the model class that reads them (:mod:`cxrvlp.methods.registry`).

Values that must agree live in one place: the token length is ``text_encoder.max_length`` (the collate, the
evaluation and the prompts all read it), an objective's width comes from the model output it reads.
Configs written by earlier versions (a checkpoint's ``hyper_parameters.config``) are brought up to date by
:func:`migrate` when they are read.
"""
from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` as a string; recipes and ``--set`` values mean a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$|^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def yaml_load(text: str):
    return yaml.load(text, Loader=_Loader)


RECIPE_DIR = Path(__file__).resolve().parent / "methods" / "recipes"


@dataclass
class DataConfig:
    adapter: str = "phantom"  # registered adapter name (cxrvlp.data.adapters)
    root: str = "runs/phantom"
    resize: int = 256
    crop: int = 224
    augment: bool = True
    batch_size: int = 32
    num_workers: int = 2
    use_lateral: bool = False
    report_sections: tuple[str, ...] = ("FINDINGS", "IMPRESSION")
    # batch targets built in the collate from each item's seed (cxrvlp.data.targets): names or {name, **options}
    targets: list = field(default_factory=list)
    # keep studies without an image or without a report (image-only / report-only): each loss then sees only the
    # studies it can use (the batch carries has_image / has_report); needed by `collections` of unpaired data
    unpaired: bool = False
    # more training collections mixed in, [{adapter, root, weight}]: an item of collection c is drawn with
    # probability proportional to weight_c / size_c (the main adapter/root has weight 1), so each collection's
    # share of an epoch follows its weight whatever its size; validation and test stay on the main collection
    collections: list = field(default_factory=list)
    cache_resized: bool = True
    limit_studies: int = 0  # 0 = all; >0 keeps the first N studies of each split (tiny runs)


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_fraction: float = 0.05  # of all optimiser steps
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    lr_mult: dict[str, float] = field(default_factory=dict)  # parameter-name substring -> lr multiplier


@dataclass
class TrainerConfig:
    max_epochs: int = 10
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    log_every_n_steps: int = 10
    gradient_clip_val: float = 0.0
    check_val_every_n_epoch: int = 1
    torch_threads: int = 0  # 0 = torch default


@dataclass
class RecipeConfig:
    name: str
    image_encoder: dict
    text_encoder: dict
    projection: dict
    objectives: dict
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    model: str = "dual_encoder"  # registered model class (cxrvlp.methods)
    model_options: dict = field(default_factory=dict)  # options of that model class (each class checks its keys)
    # parameter-name prefixes not trained, e.g. "image_encoder.model.blocks.0." (batch-norm statistics still adapt)
    freeze: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def typed(cls, section: str, values: dict):
    """``cls(**values)`` for a dataclass, with unknown keys an error that names the section and the known keys."""
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"recipe section {section!r}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    out = cls(**values)
    for f in fields(cls):  # YAML gives lists where the dataclass declares tuples
        v = getattr(out, f.name)
        if isinstance(v, list) and "tuple" in str(f.type):
            setattr(out, f.name, tuple(v))
    return out


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def recipe_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    p = RECIPE_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        known = sorted(q.stem for q in RECIPE_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"recipe {name_or_path!r} is neither a YAML file nor a built-in recipe {known}")
    return p


def list_recipes() -> list[str]:
    return sorted(q.stem for q in RECIPE_DIR.glob("*.yaml"))


def _load_raw(name_or_path: str, seen: tuple[str, ...] = ()) -> dict:
    path = recipe_path(name_or_path)
    if str(path) in seen:
        raise ValueError(f"recipe inheritance loops: {' -> '.join(seen + (str(path),))}")
    raw = yaml_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a recipe must be a YAML mapping")
    raw.setdefault("name", path.stem)
    base = raw.pop("base", None)
    if base:
        raw = _deep_merge(_load_raw(base, seen + (str(path),)), raw)
    return raw


def parse_override(item: str) -> tuple[list[str], object]:
    """``"optim.lr=1e-4"`` → (["optim", "lr"], 0.0001); the value is parsed as YAML."""
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like key.sub=value")
    key, value = item.split("=", 1)
    return key.strip().split("."), yaml_load(value)


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for item in overrides:
        keys, value = parse_override(item)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return raw


def migrate(raw: dict) -> dict:
    """Bring a recipe dict of an earlier version up to date (idempotent; the input is not changed).

    - ``data.max_length`` (the collate's token length) moved to ``text_encoder.max_length``, which evaluation
      already read: the training value wins, as that is what the weights saw.
    - F-L's ``model_options.masking`` became the batch target ``data.targets: [{name: pathology_masking, ...}]``;
      such a config predates the token aggregation's learnable scale (``aggregation_scale: false``).
    """
    raw = copy.deepcopy(raw)
    data = raw.get("data")
    if isinstance(data, dict) and "max_length" in data:
        raw["text_encoder"] = {**raw.get("text_encoder", {}), "max_length": data.pop("max_length")}
    options = raw.get("model_options")
    if raw.get("model") == "fl" and isinstance(options, dict) and "masking" in options:
        masking = options.pop("masking") or {}
        options.setdefault("aggregation_scale", False)
        data = raw.setdefault("data", {})
        if not any(_target_name(t) == "pathology_masking" for t in data.get("targets", [])):
            data["targets"] = [*data.get("targets", []), {"name": "pathology_masking", **masking}]
    return raw


def _target_name(spec) -> str:
    return spec if isinstance(spec, str) else dict(spec).get("name", "")


def from_dict(raw: dict) -> RecipeConfig:
    raw = migrate(raw)
    for req in ("image_encoder", "text_encoder", "projection", "objectives"):
        if req not in raw:
            raise KeyError(f"recipe {raw.get('name', '?')!r}: missing section {req!r}")
    known = {f.name for f in fields(RecipeConfig)}
    unknown = set(raw) - known
    if unknown:
        raise KeyError(f"recipe {raw.get('name', '?')!r}: unknown section(s) {sorted(unknown)}; known: {sorted(known)}")
    raw["optim"] = typed(OptimConfig, "optim", raw.get("optim", {}))
    raw["data"] = typed(DataConfig, "data", raw.get("data", {}))
    raw["trainer"] = typed(TrainerConfig, "trainer", raw.get("trainer", {}))
    return RecipeConfig(**raw)


def load_recipe(name_or_path: str, overrides: list[str] = ()) -> RecipeConfig:
    return from_dict(apply_overrides(_load_raw(name_or_path), list(overrides)))
