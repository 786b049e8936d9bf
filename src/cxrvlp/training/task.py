"""The one Lightning task of pre-training: a registered model and its objectives, for any recipe.

It runs the model on a batch, evaluates every objective on ``{model outputs, batch targets}``, sums the weighted
terms, logs each one, drops the gradients that objectives keep frozen (MGCA's prototypes in the first epoch) and
configures AdamW with the recipe's per-group learning rates. Methods never subclass it.
"""
from __future__ import annotations

import lightning as L
import torch

from cxrvlp.methods.loading import build_pretraining, upgrade_state_dict
from cxrvlp.objectives import compute_losses, frozen_parameters
from cxrvlp.optim import build_optimizer
from cxrvlp.recipe import RecipeConfig, from_dict


class PretrainTask(L.LightningModule):
    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg: RecipeConfig = from_dict(config)
        self.model, self.objectives = build_pretraining(self.cfg)

    def forward(self, batch: dict) -> dict:
        return self.model(batch)

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Each objective's value and ``loss``, their weighted sum."""
        return compute_losses(self.objectives, self.model(batch), batch)

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        terms = self.losses(batch)
        bs = batch["frontal"].shape[0]
        for name, value in terms.items():
            self.log(f"{stage}/{name}", value, batch_size=bs, prog_bar=name == "loss", sync_dist=stage != "train")
        return terms["loss"]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def on_after_backward(self) -> None:
        for p in frozen_parameters(self.objectives, self.current_epoch):
            p.grad = None

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["state_dict"] = upgrade_state_dict(checkpoint["state_dict"])

    def configure_optimizers(self):
        return build_optimizer(self, self.cfg.optim, int(self.trainer.estimated_stepping_batches))
