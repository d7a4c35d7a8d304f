"""Command-line pieces shared by the bench scripts (run as ``python bench/X.py``, so this folder
is on ``sys.path``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection


def comma_separated(known: Collection[str], what: str) -> Callable[[str], list[str]]:
    """An argparse ``type``: a comma-separated list of names, each one of ``known``.

    A misspelled name is a usage error (exit status 2) naming it, before any work starts.
    """

    def names(text: str) -> list[str]:
        found = text.split(",")
        unknown = [name for name in found if name not in known]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; known: {', '.join(known)}")
        return found

    return names
