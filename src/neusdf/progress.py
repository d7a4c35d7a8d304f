"""Progress of long steps: a tqdm bar on a terminal, plain periodic log lines everywhere else.

Pipeline jobs send stderr to their log file, where a carriage-return bar is unreadable; there the
same calls write one ``logging`` line every ``interval`` seconds (and at the start and the end),
including while the caller is blocked inside one long call.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("neusdf.progress")

# Seconds between plain progress lines in job logs.
LOG_INTERVAL = 10.0


def stderr_is_terminal() -> bool:
    """Whether ``sys.stderr`` is an interactive terminal (False in job logs and pipes)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class LogProgress:
    """A tqdm-like counter that writes plain lines to the log instead of drawing a bar.

    Parameters
    ----------
    total : int or None
        Expected number of units (None: unknown).
    desc : str
        What is being counted, e.g. ``"train"``.
    unit : str
        Name of one unit, e.g. ``"step"`` or ``"point"``.
    interval : float
        Seconds between lines; a background thread keeps writing them while the caller is busy.
    logger : logging.Logger
    eta : bool
        Append an estimate of the time left (off when units take very different times).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        interval: float = LOG_INTERVAL,
        logger: logging.Logger = log,
        eta: bool = True,
    ):
        self.total = total
        self.eta = eta
        self.desc = desc
        self.unit = unit
        self.n = 0
        self.postfix = ""
        self._logger = logger
        self._start = time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._logger.info("%s: started (%s)", desc, self._count())
        self._thread = threading.Thread(target=self._beat, args=(interval,), daemon=True)
        self._thread.start()

    def _count(self) -> str:
        if self.total:
            percent = 100.0 * self.n / self.total
            return f"{self.n:,}/{self.total:,} {self.unit}s, {percent:.0f}%"
        return f"{self.n:,} {self.unit}s"

    def _line(self, prefix: str = "") -> None:
        elapsed = time.perf_counter() - self._start
        with self._lock:
            text = f"{self.desc}: {prefix}{self._count()}, {elapsed:.1f} s"
            if self.eta and self.total and 0 < self.n < self.total:
                text += f", about {elapsed * (self.total - self.n) / self.n:.0f} s left"
            if self.postfix:
                text += f" ({self.postfix})"
        self._logger.info("%s", text)

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._line()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        with self._lock:
            self.n += int(n)

    def set_postfix(self, **values) -> None:
        """Append ``key=value`` pairs to the following lines (like tqdm's postfix)."""
        with self._lock:
            self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        """Stop the periodic lines and write the final one."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        self._line("done, ")

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NoProgress:
    """Does nothing; stands in when progress reporting is switched off."""

    n = 0

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress(
    total: int | None,
    desc: str,
    unit: str = "it",
    *,
    enabled: bool = True,
    interval: float = LOG_INTERVAL,
    logger: logging.Logger = log,
    eta: bool = True,
):
    """A progress reporter with ``update(n)``, ``set_postfix(**kw)``, ``close()`` (and ``with``).

    Parameters
    ----------
    total : int or None
        Expected number of units.
    desc : str
        Short label shown in front of the bar or line.
    unit : str
        Name of one unit.
    enabled : bool
        False: a reporter that does nothing.
    interval : float
        Seconds between plain lines when stderr is not a terminal.
    logger : logging.Logger
        Where the plain lines go.
    eta : bool
        Estimate the time left in plain lines (tqdm always shows its own estimate).

    Returns
    -------
    tqdm.tqdm, LogProgress or NoProgress
        A tqdm bar on stderr when stderr is a terminal, else a :class:`LogProgress`.
    """
    if not enabled:
        return NoProgress()
    if stderr_is_terminal():
        from tqdm import tqdm

        # k/M suffixes only for big counts (points), where exact digits are noise.
        big = bool(total and total >= 100_000)
        return tqdm(
            total=total, desc=desc, unit=unit, unit_scale=big, file=sys.stderr, mininterval=0.5
        )
    return LogProgress(total, desc, unit, interval=interval, logger=logger, eta=eta)


def counted(fn: Callable, bar) -> Callable:
    """Wrap ``fn(points) -> values`` so that every call adds ``len(points)`` to ``bar``.

    Lets a caller follow a function that evaluates a field in batches (marching cubes, a narrow
    band) without that function knowing about progress.
    """

    def wrapper(points, *args, **kwargs):
        values = fn(points, *args, **kwargs)
        bar.update(len(points))
        return values

    return wrapper


def finish(bar) -> None:
    """Count the rest of ``bar``'s total as done: for work that turned out unnecessary, e.g. the
    grid nodes a narrow-band extraction proved it need not evaluate (the bar counts nodes
    settled, so it ends at 100 %)."""
    total = getattr(bar, "total", None)
    if total:
        bar.update(total - bar.n)
