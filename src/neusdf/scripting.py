"""What every Snakemake ``script:`` shares: logging into the job's log, one-line errors."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from neusdf.errors import NeusdfError


def setup_logging(log_path: str) -> None:
    """Send logging and stderr (progress bars, warnings) of this job to ``log_path``."""
    handle = open(log_path, "w", buffering=1)
    sys.stderr = handle
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(handle)],
        force=True,
    )
    logging.captureWarnings(True)


@contextlib.contextmanager
def job(log_path: str) -> Iterator[None]:
    """Run one stage with its log set up; a known input problem exits with one line, no traceback.

    The line goes to the job log and to the console (the real stderr), so users see which file
    failed and why without opening the log.
    """
    console = sys.__stderr__
    setup_logging(log_path)
    try:
        yield
    except NeusdfError as exc:
        logging.getLogger("neusdf").error("%s", exc)
        print(f"neusdf error: {exc}", file=console)
        raise SystemExit(1) from None
