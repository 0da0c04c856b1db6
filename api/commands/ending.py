"""How the installed command ends: what it built is left to the kernel, not freed object by object.

``api.cli.run`` ends the process with ``os._exit`` once the output is flushed, so the heap
is never freed piece by piece at exit. But a command's inputs are locals, freed when the
command returns, just before that: 10,000 ranked proposals took a tenth of a second to
free, 100,000 checked ones 0.3 s. So a command hands what it built to
:func:`hold_to_the_end`; ``api.cli.main`` lets it go when it returns, unless the process
is exiting right after (``run``): callers in the same process (the tests) get the memory back.
"""

from __future__ import annotations

HELD: list[object] = []
"""What the running command leaves for the end of the process."""


def hold_to_the_end(*objects: object) -> None:
    HELD.extend(objects)
