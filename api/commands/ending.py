"""How the installed command ends: what it built is left to the kernel, not freed object by object.

``api.cli.run`` ends the process with ``os._exit`` once the output is flushed, so the heap
is never freed piece by piece at exit. But a command's inputs are locals, freed when the
command returns, just before that: 10,000 ranked proposals took a tenth of a second to
free, 100,000 checked ones 0.3 s. So a command hands what it built to
:func:`hold_to_the_end`; ``api.cli.main`` lets it go when it returns, unless the process
is exiting right after (``run``): callers in the same process (the tests) get the memory back.

For the same reason a short-lived command keeps the memory it frees for its next arrays
(:func:`keep_freed_memory`) instead of handing it back to the kernel and faulting it in again.
"""

from __future__ import annotations

import os

HELD: list[object] = []
"""What the running command leaves for the end of the process."""

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (malloc.h)."""
KEPT = 1 << 30
"""Blocks up to this size come from the heap, and freed memory up to it stays there."""
GLIBC_DEFAULT = 128 * 1024


def hold_to_the_end(*objects: object) -> None:
    HELD.extend(objects)


def keep_freed_memory() -> None:
    """Large blocks from the heap and none trimmed off it, for a process that ends soon.

    glibc maps each large block (numpy's arrays of draws: 10 to 20 MB) freshly from the
    kernel and unmaps it when freed, so every chunk of a Monte Carlo walk faulted its pages
    in anew: 45,000 page faults and a quarter of a second of system time in
    ``grants simulate`` at 10,000 proposals, 0.15 s in ``grants check`` at 100,000. Kept
    in the heap, the next chunk reuses them.
    """
    _set_thresholds(KEPT)


def give_back_freed_memory() -> None:
    """glibc's first thresholds again, for a process that lives long (``grants serve``)."""
    _set_thresholds(GLIBC_DEFAULT)


def _set_thresholds(size: int) -> None:
    if not _glibc():  # other C libraries number mallopt's parameters otherwise, or have none
        return
    import ctypes  # here: the command line's start-up imports nothing it may not use

    mallopt = ctypes.CDLL(None).mallopt
    mallopt(M_MMAP_THRESHOLD, size)
    mallopt(M_TRIM_THRESHOLD, size)


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False
