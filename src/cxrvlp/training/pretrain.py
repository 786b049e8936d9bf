"""Pre-train a recipe with Lightning: checkpoints that resume, CSV (+ TensorBoard) logs, a progress bar, and a record
of the studies it trained on (``data.json``)."""
from __future__ import annotations

import csv
import importlib.util
import json
import logging
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, OnExceptionCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from cxrvlp.evaluation.data import ids_hash
from cxrvlp.recipe import RecipeConfig
from cxrvlp.text.tokenize import Tokenize
from cxrvlp.training.checkpoint import RNGState
from cxrvlp.training.datamodule import StudyDataModule
from cxrvlp.training.task import PretrainTask

log = logging.getLogger(__name__)


def build_datamodule(model, cfg: RecipeConfig) -> StudyDataModule:
    dc = model.image_encoder.data_config
    return StudyDataModule(cfg.data, Tokenize(model.text_encoder.tokenizer), mean=float(dc["mean"][0]),
                           std=float(dc["std"][0]), seed=cfg.trainer.seed, max_length=model.text_encoder.max_length,
                           image_grid=tuple(model.image_encoder.feature_grid(cfg.data.crop)))


class DataRecord(L.Callback):
    """Write ``data.json`` into the run folder when fitting starts (first process only): the adapter, the data root
    and, per split, the number of studies and the SHA-256 of their sorted ids (the hash evaluation protocols use),
    with the skipped inputs. ``cxrvlp export`` copies it into the model card."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_fit_start(self, trainer, pl_module) -> None:
        dm = trainer.datamodule
        if not trainer.is_global_zero or dm is None or not getattr(dm, "datasets", None):
            return
        splits = {name: {"studies": len(ds.studies), "study_ids_sha256": ids_hash(ds.studies)}
                  for name, ds in dm.datasets.items()}
        record = {"adapter": dm.cfg.adapter, "root": str(dm.cfg.root), "limit_studies": dm.cfg.limit_studies,
                  "splits": splits, "skipped": dm.skip_summary, "label_names": list(dm.label_names)}
        self.path.write_text(json.dumps(record, indent=2) + "\n")


def tensorboard_available() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("tensorboard", "tensorboardX"))


def print_lightning_lines_once() -> None:
    """Lightning gives the ``lightning`` logger a console handler of its own *and* lets its records reach the root
    logger: under a configured root logger (the ``cxrvlp`` command's) every INFO line came out twice, as ``INFO: ...``
    and ``INFO lightning.pytorch...: ...``. With a root handler in place, Lightning's own is removed; without one
    (a library user who configured no logging) Lightning keeps printing through its own."""
    lightning_logger = logging.getLogger("lightning")
    if not logging.getLogger().handlers or not lightning_logger.propagate:
        return
    for handler in list(lightning_logger.handlers):
        if type(handler) is logging.StreamHandler:
            lightning_logger.removeHandler(handler)


def read_metrics(run_dir: str | Path) -> list[dict[str, str]]:
    """The rows of every attempt's ``logs/attempt-N/metrics.csv`` of a run, in order."""
    attempts = sorted(Path(run_dir, "logs").glob("attempt-*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    if not attempts:
        raise FileNotFoundError(f"{run_dir}: no logs/attempt-*/metrics.csv (not a cxrvlp pretrain run folder?)")
    rows = []
    for path in attempts:
        with path.open(newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def _set_aside(folder: Path) -> Path:
    """Rename ``folder`` to the first free ``<name>.replaced-N`` beside it."""
    n = 1
    while (target := folder.with_name(f"{folder.name}.replaced-{n}")).exists():
        n += 1
    return folder.rename(target)


DDP_STRATEGIES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")


def ddp_strategy(strategy: str, devices, model) -> str:
    """The Lightning strategy to train ``model`` with: a plain DDP name (or ``auto`` over several devices) becomes
    its ``*_find_unused_parameters_true`` form when the model's batches can leave parameters out of the loss, which
    plain DDP stops on."""
    if not getattr(model, "DDP_FIND_UNUSED", False):
        return strategy
    if strategy == "auto" and isinstance(devices, int) and (devices > 1 or devices == -1):
        strategy = "ddp"
    if strategy in DDP_STRATEGIES:
        log.info("%s: DDP will look for parameters a batch leaves unused (a batch without lateral views)",
                 type(model).__name__)
        return f"{strategy}_find_unused_parameters_true"
    return strategy


def freeze_parameters(model: torch.nn.Module, prefixes: list[str]) -> int:
    """Stop training every parameter whose name starts with one of ``prefixes``; each prefix must match."""
    frozen = 0
    for prefix in prefixes:
        hits = [p for name, p in model.named_parameters() if name.startswith(prefix)]
        if not hits:
            raise KeyError(f"freeze: no parameter name starts with {prefix!r}")
        for p in hits:
            p.requires_grad_(False)
        frozen += len(hits)
    return frozen


def pin_environment_choices(cfg: RecipeConfig) -> RecipeConfig:
    """Choices that depend on what is installed, made once and recorded in the run's recipe: ``tiny_bert``'s
    ``tokenizer: auto`` (MiniLM's with the ``weights`` extra, else the built-in one) becomes the one used, so the
    checkpoints load with the same vocabulary in any environment."""
    from dataclasses import replace

    from cxrvlp.encoders.text import resolve_tiny_bert_tokenizer

    text = cfg.text_encoder
    if text.get("name") == "tiny_bert" and text.get("tokenizer", "auto") == "auto":
        cfg = replace(cfg, text_encoder={**text, "tokenizer": resolve_tiny_bert_tokenizer("auto")})
    return cfg


def pretrain(cfg: RecipeConfig, out_dir: str | Path, resume: bool = True, progress: bool = True,
             extra_callbacks: list[L.Callback] = (), extra_trainer_kwargs: dict | None = None) -> Path:
    """Train ``cfg`` into ``out_dir``; returns the path of the last checkpoint.

    ``out_dir`` receives ``config.yaml`` (the resolved recipe), ``data.json`` (the studies trained on: counts and id
    hashes per split), ``checkpoints/`` (``last.ckpt`` every epoch, and ``on_exception.ckpt``) and
    ``logs/attempt-N/`` (``metrics.csv``, TensorBoard events when tensorboard is installed; one folder per start). With
    ``resume`` and an existing ``checkpoints/last.ckpt`` the run continues where it stopped; without it, a previous
    ``checkpoints/`` is renamed ``checkpoints.replaced-N`` and training starts from scratch.
    """
    cfg = pin_environment_choices(cfg)
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    config_file = out_dir / "config.yaml"
    resolved = cfg.to_dict()
    if resume and last.is_file() and config_file.is_file():
        previous = yaml.safe_load(config_file.read_text())
        if json.dumps(previous, sort_keys=True, default=str) != json.dumps(resolved, sort_keys=True, default=str):
            raise ValueError(f"{out_dir} holds a run with a different config ({config_file}); "
                             "use another --out or pass --no-resume to start over")
    if not resume and ckpt_dir.is_dir() and any(ckpt_dir.iterdir()):
        # Lightning resumes from the newest checkpoint it finds whenever an on-exception checkpoint callback is set,
        # even with ckpt_path=None: starting over means moving the old ones out of its sight (kept, not deleted)
        kept = _set_aside(ckpt_dir)
        log.warning("%s: starting over; the previous checkpoints are kept in %s", out_dir, kept)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(json.loads(json.dumps(resolved)), sort_keys=False))

    print_lightning_lines_once()
    t = cfg.trainer
    if t.torch_threads:
        torch.set_num_threads(t.torch_threads)
    L.seed_everything(t.seed, workers=True, verbose=False)
    task = PretrainTask(resolved)
    freeze_parameters(task.model, cfg.freeze)
    dm = build_datamodule(task.model, cfg)
    callbacks = [ModelCheckpoint(dirpath=ckpt_dir, filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                                 save_last=True, save_top_k=1),
                 OnExceptionCheckpoint(dirpath=ckpt_dir, filename="on_exception"), RNGState(),
                 DataRecord(out_dir / "data.json"),
                 LearningRateMonitor(logging_interval="step"), *extra_callbacks]
    if progress:
        callbacks.append(RichProgressBar())
    attempt = f"attempt-{len(list((out_dir / 'logs').glob('attempt-*'))) + 1}"  # a resumed run keeps old logs
    loggers = [CSVLogger(out_dir, name="logs", version=attempt)]
    if tensorboard_available():
        loggers.append(TensorBoardLogger(out_dir, name="logs", version=attempt))
    else:
        log.info("tensorboard is not installed: no TensorBoard events, metrics.csv only (pip install "
                 "'cxrvlp[tensorboard]')")
    trainer = L.Trainer(max_epochs=t.max_epochs, accelerator=t.accelerator, devices=t.devices,
                        strategy=ddp_strategy(t.strategy, t.devices, task.model),
                        precision=t.precision, log_every_n_steps=t.log_every_n_steps, callbacks=callbacks,
                        logger=loggers, gradient_clip_val=t.gradient_clip_val or None,
                        check_val_every_n_epoch=t.check_val_every_n_epoch, enable_progress_bar=progress,
                        deterministic=False, use_distributed_sampler=False,  # SeededSampler shards itself
                        **(extra_trainer_kwargs or {}))
    trainer.fit(task, datamodule=dm, ckpt_path=str(last) if resume and last.is_file() else None,
                weights_only=True)  # a checkpoint is read as weights: it cannot run code
    return last
