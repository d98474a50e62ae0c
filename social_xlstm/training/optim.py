"""AdamW with linear warm-up and cosine decay, the default that recurrent forecasters train well with."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from social_xlstm.errors import UserError


class OptimConfigError(UserError, ValueError):
    """An impossible optimiser option (a UserError: the CLI prints it and exits with status 2)."""


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule."""

    lr: float = 2e-3
    """Peak learning rate, reached at the end of warm-up."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay (not applied to biases, norms and embeddings)."""
    betas: tuple[float, float] = (0.9, 0.98)
    """AdamW betas."""
    warmup_fraction: float = 0.05
    """Share of all optimiser steps spent warming up linearly from 0."""
    min_lr_ratio: float = 0.05
    """Cosine decay ends at ``lr * min_lr_ratio``."""

    def __post_init__(self):
        # Each value that would train nonsense or crash later, refused with the option's full name.
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise OptimConfigError(f"model option optim.lr must be a positive number, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise OptimConfigError(f"model option optim.weight_decay must be >= 0, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise OptimConfigError(f"model option optim.betas must be two numbers in [0, 1), got {self.betas}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise OptimConfigError(f"model option optim.warmup_fraction must lie in [0, 1), got {self.warmup_fraction}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise OptimConfigError(f"model option optim.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")


def warmup_cosine(step: int, total_steps: int, warmup_fraction: float, min_lr_ratio: float) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based)."""
    total_steps = max(total_steps, 1)
    warmup = max(int(round(warmup_fraction * total_steps)), 1 if warmup_fraction > 0 else 0)
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(
    module: torch.nn.Module, config: OptimConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over two parameter groups (decayed matrices, undecayed vectors) and its per-step schedule."""
    decay, no_decay = [], []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        # Vectors (biases, norm scales) and embedding tables are not decayed, as in GPT-style training.
        (no_decay if param.ndim < 2 or "embedding" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=tuple(config.betas),
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, config.warmup_fraction, config.min_lr_ratio)
    )
    return optimizer, scheduler
