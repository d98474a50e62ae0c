"""The speed a fit ran at, said once at its end: optimiser steps per second and seconds per step.

Every ``fit`` gets :class:`FitSpeed` (the CLI adds it, as it adds the safety callbacks), so a user comparing
a config, a backend or a machine reads the number without a profiler. The clock runs from the first
training batch to the end of training, so start-up (data loading, a compile, the sanity check) is not in
it, validation is.
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info


class FitSpeed(Callback):
    """Prints ``fit: S optimiser steps in T s: R steps/s (P s/step)`` when training ends."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.first_step = 0
        self.summary: dict | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.start is None:
            self.start, self.first_step = time.perf_counter(), trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        if self.start is None:
            return
        seconds = time.perf_counter() - self.start
        steps = trainer.global_step - self.first_step
        if steps <= 0 or seconds <= 0:
            return
        self.summary = {"steps": steps, "seconds": seconds, "steps_per_second": steps / seconds}
        rank_zero_info(
            f"fit: {steps} optimiser steps in {seconds:.1f} s: {steps / seconds:.2f} steps/s "
            f"({seconds / steps:.3f} s/step, validation included)"
        )
