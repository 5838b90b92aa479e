"""A one-line progress bar on stderr (redrawn in place on a terminal; elsewhere only the
final line is written, so logs of CI runs stay readable)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30
_REDRAW_S = 0.1


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.live = self.enabled and self.stream.isatty()
        self.started = self.drawn = time.monotonic()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.live and (now - self.drawn >= _REDRAW_S or self.done >= self.total):
            self.drawn = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write(("\r" if self.live else "") + self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = int(share * _WIDTH)
        elapsed = time.monotonic() - self.started
        return (f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] "
                f"{self.done}/{self.total} {share:4.0%} {elapsed:5.1f}s")
