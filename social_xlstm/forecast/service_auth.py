"""Optional API-key authentication of the forecast service, and where it may listen without one.

A key comes from the ``SOCIAL_XLSTM_API_KEY`` environment variable or a file (``serve --api-key-file``,
its first line; a file keeps the key out of the process list and the shell history). With a key, every
route but ``/health`` (what a load balancer or a container's ``HEALTHCHECK`` probes) needs it, as
``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, compared in constant time; a request without it is 401.
Without a key the service answers anyone who can reach it, so it listens on the loopback address only:
another ``--host`` without a key is refused before anything is loaded.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path

from social_xlstm.errors import UserError

KEY_VARIABLE = "SOCIAL_XLSTM_API_KEY"
OPEN_ROUTES = ("/health",)
MIN_KEY_LENGTH = 16


def api_key(key_file: str | Path | None = None, environ=os.environ) -> str | None:
    """The configured key: ``key_file``'s first line, else ``$SOCIAL_XLSTM_API_KEY``, else None.

    Raises:
        UserError: the file cannot be read, or the key is shorter than :data:`MIN_KEY_LENGTH` characters.
    """
    if key_file is not None:
        try:
            lines = Path(key_file).read_text().splitlines()
        except OSError as err:
            raise UserError(f"--api-key-file {key_file}: cannot be read ({err.strerror or err})") from None
        key, where = (lines[0].strip() if lines else ""), f"--api-key-file {key_file}"
    elif environ.get(KEY_VARIABLE):
        key, where = environ[KEY_VARIABLE].strip(), f"${KEY_VARIABLE}"
    else:
        return None
    if len(key) < MIN_KEY_LENGTH:
        raise UserError(f"{where}: an API key needs at least {MIN_KEY_LENGTH} characters, got {len(key)}")
    return key


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, key: str | None) -> None:
    """Refuse to listen beyond this machine without a key."""
    if key is None and not is_loopback(host):
        raise UserError(
            f"--host {host}: without an API key the service answers anyone who reaches it, so it listens on "
            f"127.0.0.1 only; set ${KEY_VARIABLE} or --api-key-file FILE to serve on {host}"
        )


def presented_key(headers) -> str | None:
    """The key a request presents: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key")


def authorised(path: str, headers, key: str | None) -> bool:
    """Whether a request to ``path`` may pass: no key configured, an open route, or the right key."""
    if key is None or path in OPEN_ROUTES:
        return True
    given = presented_key(headers)
    return given is not None and hmac.compare_digest(given.encode(), key.encode())
