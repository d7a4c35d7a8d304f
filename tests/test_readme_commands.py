"""Every command the README shows runs: snakemake ones as dry runs, make targets with -n, bench
scripts with --help, generators into a scratch folder. A command of a kind this file does not
know fails the test, so a new README command cannot go unchecked."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
STARTS = ("snakemake", "make", "python", "neusdf", "pip", "source", ".venv/bin/")


def readme_commands() -> list[str]:
    """Inline code spans and bash-block lines of README.md that start with a command."""
    text = (REPO / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        found += [line.split("#")[0].strip() for line in block.splitlines()]
    found += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    commands = []
    for command in found:
        is_message = "error:" in command  # quoted output, not a command
        if (
            command.startswith(STARTS)
            and " " in command
            and not is_message
            and command not in commands
        ):
            commands.append(command)
    return commands


def runnable(command: str, scratch: Path) -> tuple[list[str], Path] | str:
    """The argv and folder that check ``command``, or the reason it is checked elsewhere."""
    # Placeholders (<folder ...>) stand for a real input: the default meshes.
    argv = shlex.split(re.sub(r"<[^>]*>", "data/raw", command))
    if argv[0].startswith(".venv/bin/"):
        argv[0] = argv[0].removeprefix(".venv/bin/")
    tool = argv[0]
    if "../shared" in command and not (REPO.parent / "shared" / "meshes").is_dir():
        return "needs ../shared/meshes, which is not here"
    if tool == "snakemake":
        if "--report" in argv:
            return "rendered by tests/test_workflow.py::test_report_is_one_page_that_renders"
        if "--sdm" in argv and shutil.which("conda") is None:
            return "needs conda, which this machine does not have"
        if "--unlock" in argv:  # acts on a working folder: a scratch one with one mesh
            (scratch / "data" / "raw").mkdir(parents=True)
            shutil.copy(REPO / "data" / "raw" / "sphere.obj", scratch / "data" / "raw")
            where = [
                "--snakefile",
                str(REPO / "Snakefile"),
                "--configfile",
                str(REPO / "config.yaml"),
            ]
            return [str(BIN / "snakemake"), *argv[1:], *where], scratch
        return [str(BIN / "snakemake"), *argv[1:], "--dry-run"], REPO
    if tool == "make":
        return ["make", "-n", *argv[1:]], REPO
    if tool == "python" and argv[1].startswith("bench/"):
        return [sys.executable, *argv[1:], "--help"], REPO
    if tool == "python" and argv[1] == "-m":
        # Generators write into the folder they are given: point them at the scratch folder.
        return [sys.executable, *argv[1:3], str(scratch / "out")], REPO
    if tool == "neusdf":
        # A placeholder subcommand (COMMAND) stands for all of them: the top-level help.
        sub = [] if argv[1].isupper() else [argv[1]]
        return [sys.executable, "-m", "neusdf.cli", *sub, "--help"], REPO
    if tool == "pip":
        return "installs from the network; the packages it names are pinned in requirements/"
    if tool == "source":
        return "changes the calling shell only"
    raise AssertionError(f"README command of an unknown kind, add a rule for it: {command}")


def test_readme_shows_commands():
    commands = readme_commands()
    assert "snakemake --cores 1 --resources gpu=1" in commands
    assert "make test" in commands


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, tmp_path):
    check = runnable(command, tmp_path)
    if isinstance(check, str):
        pytest.skip(check)
    argv, cwd = check
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
