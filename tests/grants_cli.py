"""Run the real ``grants`` entry point in-process, as a user would from the shell; a port for a served one."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass

import pytest

from api.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def grants(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Outcome:
    """``grants ARGS``: exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["grants", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    code = stopped.value.code
    return Outcome(code if isinstance(code, int) else 1, captured.out, captured.err)


def free_port() -> int:
    """A port nothing listens on now, for a ``grants serve`` the test or benchmark starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
