"""How the installed command ends: what it built is left to the kernel, not freed object by object.

``api.cli.run`` ends the process with ``os._exit`` once the output is flushed, so the heap
is never freed piece by piece at exit. But a command's inputs are locals, freed when the
command returns, just before that: 10,000 proposals with their scores and ranking took a
tenth of a second to free, three percent of an allocation. A command hands what it built
to :func:`kept`, which holds it until the process ends, only when the installed command
runs: callers in the same process (the tests, the server) free their results as usual.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")

_held: list[object] = []
_installed: list[bool] = []


def installed() -> None:
    """The process is the installed ``grants`` and ends with ``os._exit``: results may be kept until then."""
    _installed.append(True)


def kept(result: T) -> T:
    """``result``, held until the process ends if it is the installed command (see the module's docstring)."""
    if _installed:
        _held.append(result)
    return result
