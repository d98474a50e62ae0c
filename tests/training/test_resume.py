"""Crash and resume: a fit killed with SIGKILL mid-epoch and resumed with --ckpt_path last ends bit-identical.

The killed run blocks itself (``BlockAtStep``) a few steps after a mid-epoch ``last.ckpt`` was written, and
is then killed from outside with SIGKILL, so the kill lands at a known point without racing the training.
Dropout, a per-epoch window subset (``max_train_windows``) and node sampling are on, so the window order,
the global random state and the loader position all have to be restored for the weights to match.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from social_xlstm.checkpoint import read_checkpoint
from social_xlstm.training.checkpoint_io import AtomicCheckpointIO

REPO = Path(__file__).resolve().parents[2]
BLOCK_ENV = "SOCIAL_XLSTM_TEST_BLOCK_AT_STEP"
# 96 windows per epoch in batches of 8: 12 steps an epoch, 2 epochs; last.ckpt every 5 steps (5, 10, the
# epoch end at 12, 15, 20, the end at 24). The killed run blocks after step 17: its newest last.ckpt is the
# mid-epoch one of step 15 (epoch 1, batch 3 of 12).
STEPS_PER_EPOCH, EVERY, BLOCK_AT, EPOCHS = 12, 5, 17, 2


class BlockAtStep(Callback):
    """Test helper: after optimiser step ``$SOCIAL_XLSTM_TEST_BLOCK_AT_STEP``, touch ``<root>/blocked`` and hang."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == int(os.environ.get(BLOCK_ENV, "-1")):
            Path(trainer.default_root_dir, "blocked").touch()
            time.sleep(600)


def _fit(dataset: Path, root: Path, *extra: str, block: bool = False) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "social_xlstm",
        "fit",
        "--config",
        str(REPO / "configs" / "demo.yaml"),
        "--data.data_dir",
        str(dataset),
        "--trainer.default_root_dir",
        str(root),
        "--trainer.max_epochs",
        str(EPOCHS),
        "--trainer.limit_val_batches",
        "2",
        "--trainer.deterministic",
        "true",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.callbacks+=test_resume.BlockAtStep",
        "--last_checkpoint.every_n_train_steps",
        str(EVERY),
        "--model.d_model",
        "8",
        "--model.encoder.layers",
        "1",
        "--model.encoder.heads",
        "2",
        "--model.social.heads",
        "2",
        "--model.dropout",
        "0.1",
        "--data.window",
        "6",
        "--data.horizon",
        "3",
        "--data.batch_size",
        "8",
        "--data.max_train_windows",
        str(8 * STEPS_PER_EPOCH),
        "--data.node_sample",
        "3",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), BLOCK_ENV: str(BLOCK_AT if block else -1)}
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(tiny_dataset, tmp_path):
    whole = _fit(tiny_dataset, tmp_path / "whole")
    killed = _fit(tiny_dataset, tmp_path / "killed", block=True)
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not (tmp_path / "killed" / "blocked").exists():
        assert killed.poll() is None, killed.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the run to kill never reached its blocking step"
        time.sleep(0.2)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    saved = read_checkpoint(last)
    assert saved["global_step"] == 15 and saved["epoch"] == 1  # mid-epoch: 3 of the 12 batches of epoch 1

    _finish(_fit(tiny_dataset, tmp_path / "killed", "--ckpt_path", "last"))
    _finish(whole)

    resumed = read_checkpoint(last)
    reference = read_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == reference["global_step"] == EPOCHS * STEPS_PER_EPOCH
    assert resumed["state_dict"].keys() == reference["state_dict"].keys()
    for name, value in reference["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name
    # The early-stopping state (best val_mae of every epoch) agrees too. (The best-checkpoint score is not
    # compared: Lightning drops it when the resumed run logs to a new version folder; docs/reliability.md.)
    for key, state in reference["callbacks"].items():
        if key.startswith("EarlyStopping"):
            assert torch.equal(resumed["callbacks"][key]["best_score"], state["best_score"])
            assert resumed["callbacks"][key]["wait_count"] == state["wait_count"]


def test_last_ckpt_without_checkpoint_starts_fresh_with_a_warning_not_an_error():
    from social_xlstm.experiment import check_ckpt_path

    check_ckpt_path("fit", "last")  # Lightning resolves it; no file is read here


def test_interrupted_save_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "step": 1}, path)

    def half_then_die(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # the process is stopped in the middle of writing

    monkeypatch.setattr(torch, "save", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "step": 2}, path)
    monkeypatch.undo()
    assert read_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_sigkill_during_a_save_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "step": 1}, path)
    script = (
        "import os, signal, torch\n"
        "from pathlib import Path\n"
        "from social_xlstm.training.checkpoint_io import AtomicCheckpointIO\n"
        "def half(obj, f, *a, **k):\n"
        "    Path(f).write_bytes(b'PK half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = half\n"
        f"AtomicCheckpointIO().save_checkpoint({{'state_dict': {{}}, 'step': 2}}, {str(path)!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert read_checkpoint(path)["step"] == 1


def test_training_order_repeats_per_epoch_and_resumes_mid_epoch():
    from social_xlstm.data.shuffle import EpochShuffle

    sampler = EpochShuffle(50, seed=3, num_samples=20)
    sampler.set_epoch(2)
    epoch2 = list(sampler)
    assert len(epoch2) == 20 == len(set(epoch2)) and epoch2 == list(sampler)
    sampler.set_epoch(3)
    assert list(sampler) != epoch2
    fresh = EpochShuffle(50, seed=3, num_samples=20)
    fresh.resume(2, skip=8)
    assert list(fresh) == epoch2[8:] and len(fresh) == 20
    assert list(fresh) == epoch2  # the skip holds for one pass only
