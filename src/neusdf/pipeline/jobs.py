"""What every Snakemake ``script:`` shares: logging into the job's log, one-line errors, and a
failure record that lets the summary list failed objects instead of silently dropping them."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from neusdf.errors import NeusdfError
from neusdf.io import write_json


def setup_logging(log_path: str) -> None:
    """Send logging and stderr (progress bars, warnings) of this job to ``log_path``."""
    handle = open(log_path, "w", buffering=1)  # stays open for the whole job
    sys.stderr = handle
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(handle)],
        force=True,
    )
    logging.captureWarnings(True)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, prefixed by its type when it is not ours."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, NeusdfError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _interrupt(signum, frame):
    """SIGTERM (scancel, a cluster's time limit, kill) as Ctrl-C: unwinds the stage, so that
    :func:`neusdf.io.atomic_path` removes its temporary file, and writes no failure record."""
    raise KeyboardInterrupt(f"terminated by signal {signum}")


@contextlib.contextmanager
def job(log_path: str, failure_path: str | None = None, **context: str) -> Iterator[None]:
    """Run one stage with its log set up.

    A known input problem (:class:`~neusdf.errors.NeusdfError`) exits with one line on the console
    and in the log, no traceback. Any failure writes ``failure_path`` (JSON: ``context`` plus
    ``status="failed"`` and ``error``) so the summary can report it; success removes a stale one.
    """
    console = sys.__stderr__
    setup_logging(log_path)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    except BaseException as exc:
        if failure_path is not None and not isinstance(exc, KeyboardInterrupt):
            write_json(failure_path, {**context, "status": "failed", "error": one_line(exc)})
        if isinstance(exc, NeusdfError):
            logging.getLogger("neusdf").error("%s", exc)
            print(f"neusdf error: {exc}", file=console)
            raise SystemExit(1) from None
        raise
    else:
        if failure_path is not None:
            Path(failure_path).unlink(missing_ok=True)


# Stages whose failure records have no {model} level (results/failures/{stage}/{obj}.json).
OBJECT_STAGES = ("normalize", "sample")
MODEL_STAGES = ("train", "extract", "evaluate", "plot", "render")


def find_failure_records(
    objects: Iterable[str], models: Iterable[str], root: str | Path = "results/failures"
) -> list[str]:
    """The failure records under ``root`` that belong to the given objects and models, sorted.

    One walk of ``root`` instead of one ``stat`` per (stage, model, object): Snakemake calls
    this at every start, and at 10,000 objects that would be 60,000 stats per model.
    Paths are returned as ``root``-prefixed POSIX strings, as the rules write them.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    objects, models = list(objects), list(models)
    prefix = root.as_posix()
    wanted = {f"{prefix}/{stage}/{obj}.json" for stage in OBJECT_STAGES for obj in objects}
    wanted.update(
        f"{prefix}/{stage}/{model}/{obj}.json"
        for stage in MODEL_STAGES
        for model in models
        for obj in objects
    )
    return sorted({path.as_posix() for path in root.rglob("*.json")} & wanted)
