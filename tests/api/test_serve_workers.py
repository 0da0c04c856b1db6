"""``grants serve --workers 2`` as installed: each worker listens on its own socket and gets its share of connections.

With one shared socket the first worker to wake accepted every connection a client
opened at once (half the benchmark's runs); here the kernel's hash shares them out.
The server's sockets are read from ``/proc``: which process holds which listening and
connected socket on the port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.grants_cli import free_port

GRANTS = Path(sys.executable).parent / "grants"
CONNECTIONS = 40
LISTEN, ESTABLISHED = "0A", "01"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; the balancing is Linux's SO_REUSEPORT")


@contextmanager
def serving(tmp_path: Path, port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [str(GRANTS), "serve", "--port", str(port), "--workers", str(workers)]
    command += ["--database", f"sqlite:///{tmp_path / 'grants.db'}"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_workers(process.pid)) < workers or not _answers(port):
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _workers(parent: int) -> list[int]:
    """The server's child processes (uvicorn's workers, and multiprocessing's helpers, which hold no socket)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                children.append(int(entry.name))
        except OSError:
            continue  # the process ended while we looked
    return children


def _sockets_on(port: int, state: str) -> set[str]:
    """The inodes of the local TCP sockets on ``port`` in ``state`` (the kernel's hex codes)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                found.add(fields[9])
    return found


def _held_by(pids: list[int], inodes: set[str]) -> Counter[int]:
    """How many of the sockets ``inodes`` each process holds open."""
    held: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                held[pid] += 1
    return held


def _open_at_once(stack: ExitStack, port: int) -> None:
    """``CONNECTIONS`` connections opened together, as a client's pool does, each answered once (so accepted)."""
    clients = [stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(CONNECTIONS)]
    for client in clients:
        client.sendall(b"GET /no-such-page HTTP/1.1\r\nHost: grants\r\n\r\n")
    for client in clients:
        client.settimeout(10)
        assert client.recv(12).startswith(b"HTTP/1.1 404")


def test_each_worker_listens_on_its_own_socket_and_serves_a_share_of_the_connections(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port, workers=2) as server, ExitStack() as stack:
        workers = _workers(server.pid)
        listening = _held_by(workers, _sockets_on(port, LISTEN))
        assert len(listening) == 2 and set(listening.values()) == {1}, listening
        assert len(_sockets_on(port, LISTEN)) == 2
        _open_at_once(stack, port)
        served = _held_by(workers, _sockets_on(port, ESTABLISHED))
        assert sum(served.values()) == CONNECTIONS
        assert len(served) == 2 and min(served.values()) >= 5, served  # all 40 on one: about 1 run in 10**11


def test_a_port_in_use_is_refused_at_once_with_its_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            command = [str(GRANTS), "serve", "--port", str(port), "--workers", workers]
            database = tmp_path / f"grants-{workers}.db"
            done = subprocess.run(
                [*command, "--database", f"sqlite:///{database}"], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 2, done.stderr
            assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
            assert "Traceback" not in done.stderr
            assert not database.exists()  # refused before the database was created or migrated
