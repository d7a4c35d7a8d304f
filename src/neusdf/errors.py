"""Errors that reach users as one line: what file, what went wrong."""

from __future__ import annotations

from pathlib import Path


class NeusdfError(Exception):
    """Base class for every error neusdf reports to users as one line."""


class InputError(NeusdfError):
    """A user-supplied file cannot be used; names the file and the reason.

    Parameters
    ----------
    path : str or Path
        The offending file.
    reason : str
        Why it cannot be used, in a few words.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MeshError(InputError):
    """A mesh file cannot be loaded or has no usable geometry."""


class NoInsideError(MeshError):
    """The mesh encloses no volume (e.g. a triangle soup), so a signed distance is undefined."""


class SampleFileError(InputError):
    """An HDF5 sample file is missing groups, has wrong shapes/dtypes or non-finite values."""


class CheckpointError(InputError):
    """A checkpoint cannot be loaded safely or does not match what is expected."""


class TimeLimitError(NeusdfError):
    """A job ran past the run's time limit (``time_limit_minutes``) and was stopped."""
