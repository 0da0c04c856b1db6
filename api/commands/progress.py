"""A progress bar on stderr for work that runs past a couple of seconds; never a character on stdout.

The bar appears only once the work has run :data:`AFTER_SECONDS`, so quick commands print
nothing extra, and only on a terminal (rich draws nothing live into a pipe or a file).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

AFTER_SECONDS = 2.0


class Bar:
    """Call with how much is done; the bar starts the first time that is asked after the delay."""

    def __init__(self, label: str, total: int):
        self.label, self.total = label, total
        self.began = time.monotonic()
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, *_: object) -> None:
        if self._progress is None:
            if time.monotonic() - self.began < AFTER_SECONDS:
                return
            self._start()
        self._progress.update(self._task, completed=done)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        columns = (TextColumn(self.label), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
        self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=self.total)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def progress(label: str, total: int) -> Iterator[Bar]:
    bar = Bar(label, total)
    try:
        yield bar
    finally:
        bar.stop()
