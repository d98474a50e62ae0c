"""The service's Dockerfile has what docs/service.md promises: CPU torch installed before the project (no
CUDA build pulled), the serve extra, a non-root user, a HEALTHCHECK on /health, the state volume."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _instructions() -> list[str]:
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def test_dockerfile_installs_cpu_torch_first_and_runs_unprivileged_with_a_healthcheck():
    steps = _instructions()
    runs = [s for s in steps if s.startswith("RUN ")]
    torch_step = next(i for i, s in enumerate(runs) if "torch==" in s)
    project_step = next(i for i, s in enumerate(runs) if "'.[serve]'" in s)
    assert torch_step < project_step and "download.pytorch.org/whl/cpu" in runs[torch_step]
    users = [s for s in steps if s.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    assert steps.index(users[-1]) > max(steps.index(s) for s in runs)  # nothing runs as root after it
    health = next(s for s in steps if s.startswith("HEALTHCHECK "))
    assert "/health" in health and "8000" in health
    entry = next(s for s in steps if s.startswith("ENTRYPOINT "))
    assert '"serve"' in entry and '"0.0.0.0"' in entry
    assert any(s.startswith("VOLUME ") and "/state" in s for s in steps)
    assert ".venv" in (ROOT / ".dockerignore").read_text()
