"""What every Snakemake ``script:`` shares: logging into the job's log, one-line errors, and a
failure record that lets the summary list failed objects instead of silently dropping them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from neusdf.errors import NeusdfError, TimeLimitError
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


def hard_stop_after(seconds: float) -> float:
    """When a job past its time limit is killed outright: the limit plus a grace period for the
    job to stop by itself (10 s and 5 % of the limit)."""
    return seconds + 10.0 + 0.05 * seconds


@contextlib.contextmanager
def time_limit(
    seconds: float | None, failure_path: str | None = None, record: dict | None = None
) -> Iterator[None]:
    """Stop the block after ``seconds`` of wall time.

    At ``seconds``, SIGALRM raises :class:`~neusdf.errors.TimeLimitError` where Python code runs,
    so the job unwinds as after any error (temporary files removed, failure record written).
    Compiled code (a numba kernel, a C++ library) does not see the signal until it returns, so a
    watchdog process outside this one writes ``record`` to ``failure_path`` and kills the job at
    :func:`hard_stop_after` ``(seconds)``; it ends with the block.

    Parameters
    ----------
    seconds : float or None
        Wall-time limit; None: no limit.
    failure_path : str, optional
        Failure record the watchdog writes before killing the job.
    record : dict, optional
        Its content (what :func:`job` would write for a :class:`TimeLimitError`).
    """
    if not seconds:
        yield
        return
    message = (record or {}).get("error") or f"ran past the time limit of {seconds:g} s"

    def expire(signum, frame):
        raise TimeLimitError(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    watchdog = None
    if failure_path is not None:
        # A shell in its own process group: killing the group on the way out also ends its
        # `sleep`. It needs nothing of this process (no fork of a threaded Python).
        script = (
            'sleep "$1"; kill -0 "$2" 2>/dev/null || exit 0; '
            'printf "%s\\n" "$3" > "$4.watchdog" && mv "$4.watchdog" "$4"; kill -9 "$2"'
        )
        Path(failure_path).parent.mkdir(parents=True, exist_ok=True)
        argv = ["sh", "-c", script, "watchdog", f"{hard_stop_after(seconds):.3f}",
                str(os.getpid()), json.dumps(record or {}), str(failure_path)]  # fmt: skip
        watchdog = os.posix_spawn("/bin/sh", argv, os.environ, setpgroup=0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if watchdog is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(watchdog, signal.SIGKILL)
            os.waitpid(watchdog, 0)


@contextlib.contextmanager
def job(
    log_path: str,
    failure_path: str | None = None,
    time_limit_minutes: float | None = None,
    **context: str,
) -> Iterator[None]:
    """Run one stage with its log set up.

    A known input problem (:class:`~neusdf.errors.NeusdfError`) exits with one line on the console
    and in the log, no traceback. Any failure writes ``failure_path`` (JSON: ``context`` plus
    ``status="failed"`` and ``error``) so the summary can report it; success removes a stale one.
    A job that runs past ``time_limit_minutes`` is stopped (:func:`time_limit`) and fails so.
    """
    console = sys.__stderr__
    setup_logging(log_path)
    signal.signal(signal.SIGTERM, _interrupt)
    limit, stopped = None, None
    if time_limit_minutes:
        limit = 60.0 * time_limit_minutes
        reason = f"ran past the time limit of {time_limit_minutes:g} min (time_limit_minutes)"
        stopped = {**context, "status": "failed", "error": f"{context.get('object')}: {reason}"}
    try:
        with time_limit(limit, failure_path, stopped):
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


def rule_job(smk, stage: str):
    """:func:`job` for the ``snakemake`` object of a rule's script: its log, its failure record
    (``params.failure``), the run's ``time_limit_minutes`` and its ``obj`` (and ``model``)
    wildcards as the record's context. Every stage's script enters its job through here, so none
    can leave out the time limit or the context."""
    context = {"stage": stage, "object": smk.wildcards.obj}
    if "model" in smk.wildcards.keys():
        context["model"] = smk.wildcards.model
    return job(smk.log[0], smk.params.failure, smk.config["time_limit_minutes"], **context)


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


def unfinished_jobs(
    objects: Iterable[str],
    models: Iterable[str],
    failure_paths: Iterable[str],
    chain: Sequence[tuple[str, str]],
    root: str = "results/failures",
) -> list[tuple[str, str, str]]:
    """(model, object, stage) of every pair that has neither a final output nor a failure record:
    its job of ``stage`` was killed from outside (out of memory, SIGKILL) or the run stopped
    before it.

    Parameters
    ----------
    objects, models : iterable of str
    failure_paths : iterable of str
        The failure records of the run (:func:`find_failure_records`), under ``root``.
    chain : sequence of (stage, path pattern)
        Each stage's output, in order, with ``{obj}`` and ``{model}`` wildcards; the last one is
        the pair's final output. The stage reported is the first whose output is missing.
    root : str

    Returns
    -------
    list of (str, str, str)
    """
    recorded = set()  # (model, or "" for object stages, object)
    for path in failure_paths:  # {root}/{stage}[/{model}]/{obj}.json
        parts = Path(path).relative_to(root).parts
        recorded.add((parts[1] if len(parts) == 3 else "", parts[-1][: -len(".json")]))
    found = []
    models = list(models)
    for obj in objects:
        for model in models:
            if ("", obj) in recorded or (model, obj) in recorded:
                continue
            for stage, pattern in chain:
                if not Path(pattern.format(obj=obj, model=model)).is_file():
                    found.append((model, obj, stage))
                    break
    return found
