"""``bnnbo dashboard``: a live, read-only web view of a store (Starlette + uvicorn + Plotly).

Pages: every study (run states, progress, elapsed time); one study (progress per problem and
surrogate, the report's tables, failures); one run (trace, seconds and diagnostics per
iteration). Needs the ``dashboard`` extra: ``pip install 'bnnbo[dashboard]'``.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from bnnbo.errors import ConfigError, UnavailableError

#: the names a browser uses for this machine's loopback addresses
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def is_local(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(url=None, refresh: float = 5.0, allowed_hosts: list[str] | None = None):
    """The Starlette app over a store; see ``bnnbo.dashboard.app.create_app``."""
    _require()
    from bnnbo.dashboard.app import create_app as _create

    return _create(url, refresh, allowed_hosts)


def _require() -> None:
    missing = []
    for module in ("starlette", "uvicorn", "jinja2", "plotly"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UnavailableError(f"the dashboard needs {', '.join(missing)}: pip install 'bnnbo[dashboard]'")


def check_address(host: str, port: int, refresh: float) -> None:
    if not host or any(c.isspace() for c in host):
        raise ConfigError(f"--host {host!r}: expected an address such as 127.0.0.1 or 0.0.0.0")
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: expected 1..65535")
    if refresh < 0:
        raise ConfigError(f"--refresh {refresh}: expected seconds >= 0 (0: no live update)")


def _check_free(host: str, port: int) -> None:
    """A clear message now rather than uvicorn's log line after the app is built."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}; pick another --port (or --host)"
        ) from None


def serve(
    url: str | os.PathLike | None = None, host: str = "127.0.0.1", port: int = 8080, refresh: float = 5.0, say=print
) -> None:
    """Serve the dashboard until interrupted; ``say`` prints the address and notes."""
    check_address(host, port, refresh)
    _require()
    _check_free(host, port)
    import uvicorn

    local = is_local(host)
    # a localhost server answers only to local names: a web page elsewhere cannot reach it by DNS rebinding
    app = create_app(url, refresh, allowed_hosts=[*LOCAL_NAMES, "[::1]", host] if local else None)
    shown = f"[{host}]" if ":" in host else host
    from bnnbo.report.html import safe_url

    say(
        f"bnnbo dashboard on http://{shown}:{port}/ (store {safe_url(app.state.data.store.url)}, "
        "read-only); Ctrl-C stops it"
    )
    if not local:
        say(
            f"note: bound to {host}, not localhost: anyone who can reach this machine on port {port} can read "
            "every study in the store (there is no login). For remote viewing prefer the default "
            "--host 127.0.0.1 and an SSH tunnel (ssh -L 8080:localhost:8080 HOST)."
        )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
