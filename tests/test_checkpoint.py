"""The checkpoint reader: any file that is not a checkpoint is one UserError naming it, never a raw exception."""

from __future__ import annotations

import random

import pytest
import torch

from social_xlstm.checkpoint import read_checkpoint
from social_xlstm.errors import UserError


@pytest.mark.parametrize("seed", range(64))
def test_random_bytes_are_one_clear_error(tmp_path, seed):
    # random bytes read as a legacy pickle fail inside the weights-only unpickler in many ways (IndexError,
    # KeyError, UnpicklingError, ...): every one of them must come out as the same message
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(random.Random(seed).randbytes(random.Random(seed).randint(1, 4096)))
    with pytest.raises(UserError, match="garbage.ckpt: not a readable checkpoint"):
        read_checkpoint(path)


def test_a_checkpoint_reads_back_and_a_foreign_file_is_named(tmp_path):
    path = tmp_path / "ok.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    assert torch.equal(read_checkpoint(path)["state_dict"]["w"], torch.ones(2))
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="other.ckpt: not a Lightning checkpoint"):
        read_checkpoint(tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="missing.ckpt: checkpoint not found"):
        read_checkpoint(tmp_path / "missing.ckpt")
