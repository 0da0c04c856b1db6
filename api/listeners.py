"""The sockets ``grants serve`` listens on: one per worker on Linux, so the kernel shares the connections out.

Uvicorn's workers all accept from one listening socket their parent bound. Whichever
worker wakes first accepts every connection waiting, so a client that opens its pool
at once lands on one worker: 50 connections opened together all went to one of two
workers in about half the runs measured (``benchmarks/bench_api.py``), the other idle.
With ``SO_REUSEPORT`` each worker binds a socket of its own to the same address and
the kernel hashes each new connection to one of them (Linux only: elsewhere one
socket of the group takes them all, so the shared socket is kept).

Uvicorn passes its workers the sockets to serve, pickled, and hands the same list to
every worker it restarts. So the parent gives it :class:`OwnSocket` placeholders, which
bind nothing in the parent: each worker that unpickles one gets a new socket bound
to the address with ``SO_REUSEPORT``, its own (uvicorn has no option for it: its pull
request #2472 is still open).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from rules.errors import GrantsError

BALANCED = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bound(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening: the server calls ``listen``)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise GrantsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port") from None
    sock.set_inheritable(True)
    return sock


class OwnSocket(socket.socket):
    """Stands for ``host:port`` in the parent (never bound); unpickled in a worker, a socket of the worker's own."""

    def __init__(self, host: str, port: int):
        super().__init__(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.address = (host, port)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        host, port = self.address
        return _worker_socket, (host, port)


def _worker_socket(host: str, port: int) -> socket.socket:
    return bound(host, port, reuse_port=True)


def worker_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """What uvicorn's workers are to serve on, the address checked free first (so a taken port fails here, once).

    The check binds without ``SO_REUSEPORT``: a port another server's group holds refuses
    it, where a worker's bind would join that group and take half its connections.
    With one worker, a port of 0 (any free port, which each worker would pick apart)
    or off Linux, the checked socket itself is the one shared socket.
    """
    checked = bound(host, port, reuse_port=False)
    if workers == 1 or port == 0 or not BALANCED:
        return [checked]
    checked.close()
    return [OwnSocket(host, port)]


def run(app: str, host: str, port: int, sockets: list[socket.socket], workers: int, factory: bool = False) -> bool:
    """Serve ``app`` (an import string) on ``sockets`` from :func:`worker_sockets`; whether it started.

    ``grants serve`` and the benchmarks' bare endpoint both serve through here, so the
    yardstick's connections are shared out between its workers as the server's are.
    """
    config = uvicorn.Config(app, factory=factory, host=host, port=port, workers=workers, log_level="warning")
    if workers > 1:
        Multiprocess(config, sockets=sockets).run()
        return True
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    return server.started
