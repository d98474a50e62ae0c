"""``social-xlstm serve``: load the forecaster, restore its snapshot, serve HTTP until stopped.

FastAPI and uvicorn are an optional extra (``pip install 'social-xlstm[serve]'``). This module imports
nothing of them at the top, so that ``serve`` without them prints how to install them and exits with
status 2 instead of a traceback, and ``social-xlstm --help`` never pays for them.

The listening socket is bound here, before the model is loaded, so that a port already in use is one
clear error naming the address instead of a uvicorn log line after seconds of loading.
"""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

from social_xlstm.errors import UserError
from social_xlstm.forecast.service_limits import Limits

SERVE_EXTRA = "pip install 'social-xlstm[serve]'"
SERVE_MODULES = ("fastapi", "uvicorn", "pydantic")


def require_serve_extra() -> None:
    """Raise a :class:`UserError` naming the install command when a module of the serve extra is missing."""
    missing = []
    for name in SERVE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UserError(f"serve needs {', '.join(missing)}, which are not installed: {SERVE_EXTRA}")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); a clear error when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    checkpoint: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    state: str | Path | None = None,
    mode: str = "auto",
    limits: Limits | None = None,
    api_key_file: str | Path | None = None,
    snapshot_every: int | None = None,
    at: str | Path | None = None,
    at_edges: str | Path | None = None,
    stations: str | Path | None = None,
) -> None:
    """Serve one :class:`StreamingForecaster` over HTTP until SIGINT/SIGTERM (docs/service.md).

    Both signals shut down cleanly (requests in flight answered, then the snapshot written). After that,
    Ctrl-C returns normally (exit 0), while SIGTERM ends the process by the signal, as uvicorn re-raises
    it (status 143 in a shell), which is what process managers expect of a stop.

    Args:
        checkpoint: the model checkpoint.
        host, port: where to listen (port 0: a free port, printed on start).
        state: snapshot file, restored on start when it exists and written (atomically) on shutdown.
        mode: ``StreamingForecaster.from_checkpoint`` mode: ``auto``, ``window`` or ``state``.
        limits: :class:`~social_xlstm.forecast.service_limits.Limits` (default its defaults).
        api_key_file: the API key's file (else ``$SOCIAL_XLSTM_API_KEY``; neither: no authentication, and
            ``host`` must be a loopback address).
        snapshot_every: also write the snapshot every this many ticks (needs ``state``).
        at, at_edges, stations: virtual VDs served beside the detectors, placed by the stations of the
            dataset ``stations`` (docs/virtual-vds.md).

    Raises:
        UserError: the serve extra is missing, the address is taken, the checkpoint or snapshot is bad.
    """
    require_serve_extra()
    import uvicorn

    from social_xlstm.forecast.service import create_app
    from social_xlstm.forecast.service_auth import KEY_VARIABLE, api_key, check_host
    from social_xlstm.forecast.streaming import StreamingForecaster

    key = api_key(api_key_file)
    check_host(host, key)
    if snapshot_every is not None and state is None:
        raise UserError("--snapshot-every needs --state FILE: the file the snapshots are written to")
    sock = bind(host, port)
    try:
        forecaster = StreamingForecaster.from_checkpoint(
            checkpoint, mode=mode, at=at, at_edges=at_edges, stations=stations
        )
        app = create_app(forecaster, state_path=state, checkpoint=checkpoint, limits=limits, api_key=key,
                         snapshot_every=snapshot_every)  # fmt: skip
        bound = sock.getsockname()[1]
        config = uvicorn.Config(app, host=host, port=bound, log_level="info", lifespan="on")
        print(f"serving {checkpoint} on http://{host}:{bound}", flush=True)
        if key is None:
            print(f"no API key (${KEY_VARIABLE} or --api-key-file): listening on {host} only, every route open",
                  flush=True)  # fmt: skip
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled once it has shut down cleanly
        pass
    finally:
        sock.close()
