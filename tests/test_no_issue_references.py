"""The tree is written for someone who never saw an issue: no issue numbers, no rounds of work,
no date-relative wording in any tracked text file (code, config, docs, tests).

Words that date a sentence ("now", "new") are left to review: they have ordinary uses.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.helpers import REPO

# Built from pieces so that this file does not match its own patterns.
ISSUE = "iss" + "ues?"
PATTERNS = {
    "an issue number": re.compile(rf"\b{ISSUE}\s*#?\s*\d+", re.I),
    "an issue reference": re.compile(r"\b(before|after|since|in|of|from)\s+" + ISSUE + r"\b", re.I),
    "a round of work": re.compile(r"\b" + "rou" + r"nds?[\s-]+\d+\b", re.I),
    "a date-relative word": re.compile(r"\b" + "tod" + r"ay\b", re.I),
}
SKIPPED = ("tests/bad_inputs/",)  # generated meshes, not prose


def findings(path: str, text: str) -> list[str]:
    """``path:line: what`` for every line of ``text`` that matches a pattern."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in PATTERNS.items():
            match = pattern.search(line)
            if match:
                found.append(f"{path}:{number}: {what}: {match.group(0)!r}")
    return found


def tracked_text_files() -> dict[str, str]:
    """Tracked (and new, not ignored) files of the repository that are UTF-8 text."""
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
    )
    if proc.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    files = {}
    for name in sorted(set(proc.stdout.decode().split("\0")) - {""}):
        path = REPO / name
        if name.startswith(SKIPPED) or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            files[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return files


def test_no_issue_references_in_the_tree():
    files = tracked_text_files()
    assert "README.md" in files and "config.yaml" in files
    found = [line for name, text in files.items() for line in findings(name, text)]
    assert not found, "written for a reader who never saw an issue:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("# The model comparison (iss" + "ue 11): one row per model", "an issue number"),
        ("see Iss" + "ue #9 for the recipe", "an issue number"),
        ("the default before iss" + "ue nine", "an issue reference"),
        ("the recipe used before iss" + "ues", "an issue reference"),
        ("**Rou" + "nd 3** (before = commit 8ff2d80)", "a round of work"),
        ("measured in rou" + "nd-2", "a round of work"),
        ("the default tod" + "ay", "a date-relative word"),
        ("Tod" + "ay's recipe", "a date-relative word"),
    ],
)
def test_each_pattern_is_found(line, what):
    (found,) = findings("x.md", "fine\n" + line)
    assert found.startswith(f"x.md:2: {what}: ")


@pytest.mark.parametrize(
    "line",
    [
        "np.round(d, 4)",
        "rounded up to a multiple of 512 MB",
        "around 2 minutes",
        "today_seconds = base_points / speed",  # an identifier, not prose
        "tissue 3 layers",
        "a known issue with parity on open meshes",
    ],
)
def test_ordinary_text_passes(line):
    assert findings("x.md", line) == []
