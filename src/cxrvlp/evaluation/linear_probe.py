"""Linear classification on a frozen encoder (MGCA protocol), with fine-tuning as an option.

Frozen: L2-regularised logistic regression (scikit-learn, L-BFGS) on standardised cached global features, as CLIP's
linear probe; the inverse regularisation ``C`` is picked from ``C_GRID`` on the validation split. Multi-label
targets get one binary classifier per label (items whose label is 0/1; uncertain -1 and NaN are left out) and
per-label + macro AUROC; a multi-class target (one-hot labels, e.g. COVIDx) gets a multinomial model and accuracy.
Fine-tuning trains the encoder and a linear layer end to end (BCE over the known labels, or cross-entropy).
"""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from cxrvlp.evaluation import head_training
from cxrvlp.evaluation.metrics import auroc

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
TASK_TYPES = ("multilabel", "multiclass")


def _fit_logreg(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def _binary_scores(train_x, train_y, val_x, val_y, test_x, seed: int) -> tuple[np.ndarray, float | None]:
    """Test scores of the C with the best validation AUROC; a constant prior when training has one class only."""
    known = (train_y == 0) | (train_y == 1)
    x, y = train_x[known], train_y[known]
    if y.size == 0 or y.min() == y.max():
        return np.full(len(test_x), float(y.mean()) if y.size else 0.5), None
    best = (-math.inf, None, None)
    for c in C_GRID:
        model = _fit_logreg(x, y, c, seed)
        score = auroc(model.predict_proba(val_x)[:, 1], val_y)
        score = -math.inf if math.isnan(score) else score
        if score > best[0] or best[1] is None:
            best = (score, c, model)
    return best[2].predict_proba(test_x)[:, 1], best[1]


def probe_multilabel(train_x, train_y, val_x, val_y, test_x, seed: int = 0) -> tuple[np.ndarray, list]:
    """``[N_test, L]`` scores and the chosen C per label."""
    cols, cs = [], []
    for j in range(train_y.shape[1]):
        s, c = _binary_scores(train_x, train_y[:, j], val_x, val_y[:, j], test_x, seed)
        cols.append(s)
        cs.append(c)
    return np.stack(cols, axis=1), cs


def probe_multiclass(train_x, train_y, val_x, val_y, test_x, seed: int = 0) -> tuple[np.ndarray, float]:
    """``[N_test, K]`` class probabilities (classes = label columns; ``train_y`` one-hot) and the chosen C."""
    ytr, yva = train_y.argmax(1), val_y.argmax(1)
    best = (-math.inf, None, None)
    for c in C_GRID:
        model = _fit_logreg(train_x, ytr, c, seed)
        acc = float((model.predict(val_x) == yva).mean())
        if acc > best[0]:
            best = (acc, c, model)
    model = best[2]
    proba = np.zeros((len(test_x), train_y.shape[1]))
    proba[:, model[-1].classes_] = model.predict_proba(test_x)
    return proba, best[1]


def finetune_scores(encoder: nn.Module, images_train: torch.Tensor, train_y: np.ndarray, images_test: torch.Tensor,
                    task_type: str, epochs: int = 10, batch_size: int = 16, lr: float = 1e-3, seed: int = 0,
                    progress: bool = True) -> np.ndarray:
    """Train a copy of ``encoder`` + a linear layer end to end; ``[N_test, L]`` sigmoid / softmax scores."""
    enc = copy.deepcopy(encoder)
    enc.requires_grad_(True)
    torch.manual_seed(seed)
    head = nn.Linear(enc.global_dim, train_y.shape[1])
    y = torch.from_numpy(train_y).float()

    def loss_of(h, feats, idx):
        logits, target = h(feats), y[idx]
        if task_type == "multiclass":
            return F.cross_entropy(logits, target.argmax(1))
        known = (target == 0) | (target == 1)
        return F.binary_cross_entropy_with_logits(logits[known], target[known]) if known.any() else logits.sum() * 0

    n = len(images_train)
    steps = head_training.training_steps(n, batch_size, epochs, min_steps=1, max_steps=2000)
    head_training.train(head, head_training.FeatureSource(images_train, "global", enc), n, loss_of, steps,
                        batch_size, lr, seed=seed, progress=progress, description="fine-tuning")
    out = torch.cat(head_training.predict(head, head_training.FeatureSource(images_test, "global", enc),
                                          len(images_test)))
    return (out.softmax(1) if task_type == "multiclass" else out.sigmoid()).numpy()


def score_predictions(scores: np.ndarray, labels: np.ndarray, label_names: tuple[str, ...],
                      task_type: str) -> dict:
    """Multi-label: AUROC per label and macro (labels without both classes in test are left out of the mean).
    Multi-class: accuracy over items with a label."""
    if task_type == "multiclass":
        known = ~np.isnan(labels).any(1) & (labels.max(1) == 1)
        acc = float((scores[known].argmax(1) == labels[known].argmax(1)).mean()) if known.any() else math.nan
        return {"accuracy": acc, "n_test": int(known.sum())}
    per_label = {}
    for j, name in enumerate(label_names):
        y = labels[:, j]
        per_label[name] = {"auroc": auroc(scores[:, j], y), "positives": int((y == 1).sum()),
                           "negatives": int((y == 0).sum())}
    valid = [v["auroc"] for v in per_label.values() if not math.isnan(v["auroc"])]
    return {"auroc_macro": float(np.mean(valid)) if valid else math.nan, "per_label": per_label}
