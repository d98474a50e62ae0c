"""Callbacks that keep a run's work safe: a ``last.ckpt`` to resume from, the random state, a divergence stop.

The CLI adds all three to every ``fit`` (docs/reliability.md):

- :class:`LastCheckpoint` writes ``<default_root_dir>/checkpoints/last.ckpt`` every N optimiser steps and at
  the end of every epoch (after validation, so early-stopping and best-checkpoint states are in it). It
  lives outside the logger's ``version_N`` folder so that ``fit --ckpt_path last`` of a restarted run, which
  logs to a new version, still finds it. Writes are atomic
  (:class:`~social_xlstm.training.checkpoint_io.AtomicCheckpointIO`).
- :class:`RandomState` stores the global random generators in every checkpoint and puts them back when a
  resumed fit starts, so dropout masks and node samples continue the interrupted run's sequence (the window
  order is the datamodule's, :mod:`social_xlstm.data.shuffle`).
- :class:`DivergenceGuard` stops training with :class:`DivergenceError` (exit status 2) the first time the
  loss or the gradients are not finite, before the optimiser step: the weights never take a NaN update,
  and a checkpoint whose weights are not finite is never written.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from social_xlstm.errors import UserError


class DivergenceError(UserError):
    """Training produced a non-finite loss, gradient, metric or weight."""


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the state to resume from, every ``every_n_train_steps`` steps and at every epoch end.

    Args:
        every_n_train_steps: optimiser steps between step checkpoints; 0 = only at epoch ends.
        dirpath: folder of ``last.ckpt``; None = ``<trainer.default_root_dir>/checkpoints``.
    """

    def __init__(self, every_n_train_steps: int = 200, dirpath: str | None = None):
        if every_n_train_steps < 0:
            raise UserError(f"last_checkpoint.every_n_train_steps must be >= 0, got {every_n_train_steps}")
        super().__init__(
            dirpath=dirpath,
            save_last=True,
            save_top_k=0,
            every_n_train_steps=every_n_train_steps or None,
            enable_version_counter=True,
        )

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._resolve_dirpath(trainer)
        super().setup(trainer, pl_module, stage)

    def _find_last_checkpoints(self, trainer: L.Trainer) -> set[str]:
        # Lightning resolves --ckpt_path last before any setup hook runs.
        self._resolve_dirpath(trainer)
        return super()._find_last_checkpoints(trainer)

    def _resolve_dirpath(self, trainer: L.Trainer) -> None:
        if self.dirpath is None:
            self.dirpath = os.path.join(trainer.default_root_dir, "checkpoints")

    # Lightning's epoch-end hooks write last.ckpt only when a top-k file was written at the same step; this
    # callback keeps no top-k file, so it writes last.ckpt itself at the end of every epoch.
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._should_save_on_train_epoch_end(trainer):
            self._save_epoch_end(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        at_epoch_end = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        if at_epoch_end and not self._should_save_on_train_epoch_end(trainer):
            self._save_epoch_end(trainer)

    def _save_epoch_end(self, trainer: L.Trainer) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def _numpy_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "gauss": [has_gauss, cached]}


def _set_numpy_state(state: dict) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["name"], keys, state["pos"], *state["gauss"]))


class RandomState(Callback):
    """Saves torch's (CPU and CUDA), NumPy's and Python's global random states; restores them on resume.

    They are restored in ``on_train_start``: after Lightning has built the training iterator and before
    the first resumed batch, the point at which the interrupted run had the saved state.
    """

    def __init__(self) -> None:
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        # Plain tensors, ints, strings and lists: a checkpoint stays readable with weights_only=True.
        version, internal, gauss = random.getstate()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
            "python": {"version": version, "internal": list(internal), "gauss": gauss},
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state, self._pending = self._pending, None
        if not state:
            return
        torch.set_rng_state(state["torch"])
        _set_numpy_state(state["numpy"])
        python = state["python"]
        random.setstate((python["version"], tuple(python["internal"]), python["gauss"]))
        cuda = state.get("cuda")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


class DivergenceGuard(Callback):
    """Stops training at the first non-finite loss or gradient, before the optimiser step takes it.

    Also refuses to write a checkpoint whose weights are not finite, and stops when a validation metric is
    not finite. The message names the epoch, the step and the last checkpoint written before.
    """

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        # Under DDP a rank-local stop would leave the other ranks waiting in the gradient all-reduce; the
        # gradients, equal on every rank after it, are checked instead (on_before_optimizer_step).
        if trainer.world_size == 1 and not torch.isfinite(loss.detach()).all():
            raise DivergenceError(self._message(trainer, f"the training loss is {loss.detach().float().item()}"))

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if str(trainer.precision).startswith("16"):
            return  # fp16 mixed precision: the grad scaler skips steps with inf gradients by design
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads))).all():
            raise DivergenceError(self._message(trainer, "the gradients are not finite"))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for name, value in trainer.callback_metrics.items():
            if name.startswith("val") and isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
                raise DivergenceError(self._message(trainer, f"the validation metric {name} is {value.item()}"))

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise DivergenceError(
                self._message(trainer, f"{len(bad)} weight tensors are not finite (e.g. {bad[0]}); not saved")
            )

    @staticmethod
    def _message(trainer: L.Trainer, what: str) -> str:
        saved = [
            Path(p)
            for cb in trainer.checkpoint_callbacks
            for p in (getattr(cb, "last_model_path", ""), getattr(cb, "best_model_path", ""))
            if p and Path(p).is_file()
        ]
        last = max(saved, key=lambda p: p.stat().st_mtime) if saved else None
        where = f"last good checkpoint: {last}" if last else "no checkpoint was written before"
        return (
            f"training diverged at epoch {trainer.current_epoch}, step {trainer.global_step}: {what}; "
            f"{where}. Lower --model.optim.lr (or check the data) and fit again"
        )
