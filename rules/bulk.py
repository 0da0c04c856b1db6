"""Building hundreds of thousands of objects at once, without the cyclic garbage collector.

Loading 100,000 proposals or reporting on them creates millions of small objects and no
reference cycles; each generation-2 collection then walks all of them, which took two thirds
of the time. Pausing the collector for the duration is safe and keeps the benchmark targets.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

HELD: list[object] = []
"""What a command leaves for the end of the process, which ``grants`` ends without freeing it (``api.cli.run``)."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """No collection inside; on the way out, what was built joins the oldest generation unexamined.

    Re-enabling the collector as it is would make the next allocation collect the millions of
    objects counted as young meanwhile (3 s for 100,000 proposals, to find no cycle). Freezing and
    unfreezing moves them to the oldest generation and resets the count instead; any cycle among
    them is still found by a later full collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def hold_to_the_end(*objects: object) -> None:
    """Keep a command's inputs alive past its return: freeing 100,000 parsed proposals one object
    at a time took 0.3 s of ``grants check``, for memory the kernel takes back at exit anyway."""
    HELD.extend(objects)
