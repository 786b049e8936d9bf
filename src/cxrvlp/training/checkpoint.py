"""RNG state in checkpoints for exact resumption (a Lightning callback)."""
from __future__ import annotations

import lightning as L
import numpy as np
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states


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
