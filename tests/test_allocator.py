"""The allocator setting (social_xlstm/allocator.py): training steps reuse freed pages instead of faulting them in,
and SOCIAL_XLSTM_MALLOC=system leaves glibc's defaults. Each case runs in its own interpreter, since the
setting lasts for the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, resource
from social_xlstm.allocator import keep_freed_memory
import torch
applied = keep_freed_memory()
torch.set_num_threads(1)
net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
x = torch.randn(65536, 64)  # activations of 16 and 64 MiB, as a training step's
faults = []
for _ in range(6):  # training steps: forward, backward
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    net(x).square().mean().backward()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": faults}))
"""


def _probe(env_value: str | None) -> dict:
    env = dict(os.environ)
    env.pop("SOCIAL_XLSTM_MALLOC", None)
    if env_value is not None:
        env["SOCIAL_XLSTM_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_training_steps_reuse_freed_pages_unless_the_system_allocator_is_asked_for():
    kept, system = _probe(None), _probe("system")
    assert kept["applied"] is True and system["applied"] is False
    # glibc's default maps every large block anew: each step faults its pages in again
    assert min(system["faults"][2:]) > 1000
    # kept in the heap: once the first steps have grown it, a step reuses their pages
    assert min(kept["faults"][2:]) < min(system["faults"][2:]) / 10
