"""Every command shown in README.md and docs/*.md is checked with its real arguments.

Commands are the lines of ```bash blocks, ``$ ``-prefixed lines of plain blocks (transcripts),
and inline code spans that start with a command. Each kind is checked by the program that would
read it, without running the work:

- ``neusdf ...``: parsed by :func:`neusdf.cli.build_parser` (a wrong option fails);
- ``python bench/X.py ...``: parsed by that script's own ``build_parser()``;
- ``python -m neusdf.tools.X DIR``: run, writing into a scratch folder;
- ``snakemake ...``: parsed by Snakemake's own argument parser, and run as a dry run in the
  repository (the real DAG; ``slow``);
- ``make X``: ``make -n X``;
- ``pytest ...``: collected (``--collect-only``).

A command of a kind this file does not know fails the test, so a new one cannot go unchecked.
Code blocks marked ```python are executed by the tests named in :data:`PYTHON_BLOCKS`.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from neusdf.cli import build_parser as neusdf_parser
from tests.helpers import REPO, SHARED_MESHES, bench_module

BIN = Path(sys.executable).parent
TOOLS = ("snakemake", "make", "python", "neusdf", "pytest", "pip", "source")
DOCUMENTS = ("README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")))

# Every ```python block of the documents is run by one test, which reads the document itself.
PYTHON_BLOCKS = {
    "README.md": ("tests/test_cli.py", "test_readme_commands_run"),
    "docs/checkpoint.md": (
        "tests/test_api.py",
        "test_checkpoint_doc_snippet_gives_the_same_distances_as_load",
    ),
}


@dataclass(frozen=True)
class Command:
    """One command of a document: its text and where it is (``file:line``)."""

    text: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def strip_comment(line: str) -> str:
    """A shell line without its trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def is_command(text: str) -> bool:
    """Starts with a program this file knows, has arguments, and is not a quoted message."""
    first = text.split(" ", 1)[0].removeprefix(".venv/bin/")
    return first in TOOLS and " " in text and "error:" not in text


def document_commands(name: str) -> list[Command]:
    """The commands of one document, in order of appearance (duplicates kept once)."""
    text = (REPO / name).read_text()
    found: list[Command] = []
    fence = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
    for block in fence.finditer(text):
        first = _line_of(text, block.start(2))
        for i, line in enumerate(block.group(2).splitlines()):
            if block.group(1) == "bash":
                command = strip_comment(line)
            elif block.group(1) == "" and line.startswith("$ "):
                command = line[2:].strip()  # a transcript: the command after the prompt
            else:
                continue
            if command:
                found.append(Command(command, f"{name}:{first + i}"))
    prose = fence.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for span in re.finditer(r"`([^`\n]+)`", prose):
        if is_command(span.group(1)):
            found.append(Command(span.group(1), f"{name}:{_line_of(prose, span.start())}"))
    unique: dict[str, Command] = {}
    for command in found:
        unique.setdefault(command.text, command)
    return [c for c in unique.values() if is_command(c.text)]


def all_commands() -> list[Command]:
    return [command for name in DOCUMENTS for command in document_commands(name)]


def argv_of(command: str) -> list[str]:
    """The argument vector; ``<placeholder>`` stands for a real input: the default meshes."""
    argv = shlex.split(re.sub(r"<[^>]*>", "data/raw", command))
    if argv[0].startswith(".venv/bin/"):
        argv[0] = argv[0].removeprefix(".venv/bin/")
    return argv


@functools.cache
def bench_parser(script: str):
    """The ``build_parser()`` of a bench script, imported by path (nothing runs)."""
    assert script.startswith("bench/") and script.endswith(".py"), script
    return bench_module(Path(script).stem).build_parser


@functools.cache
def snakemake_parser():
    from snakemake.cli import get_argument_parser

    return get_argument_parser


def parse(parser, argv: list[str], command: Command) -> None:
    """Parse ``argv`` as the program would; ``--help`` counts as parsed."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 0, f"{command}\n{err.getvalue().strip()}"


def run(argv: list[str], cwd: Path, command: Command) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def check_command(command: Command, scratch: Path) -> str | None:
    """Check one command with its real arguments; the reason when it is checked elsewhere."""
    argv = argv_of(command.text)
    tool, args = argv[0], argv[1:]
    if tool == "neusdf":
        if args[0].isupper():  # a placeholder subcommand (COMMAND) stands for all
            for sub in ("info", "query", "mesh", "check"):
                parse(neusdf_parser(), [sub, *args[1:]], command)
        elif len(args) == 1:  # the name of a subcommand in prose: it must exist
            parse(neusdf_parser(), [args[0], "--help"], command)
        else:
            parse(neusdf_parser(), args, command)
    elif tool == "python" and args[0].startswith("bench/"):
        parse(bench_parser(args[0])(), args[1:], command)
    elif tool == "python" and args[:1] == ["-m"] and args[1].startswith("neusdf.tools."):
        # The generators write into the folder they are given: a scratch folder here.
        assert len(args) == 3, f"{command}: expected one output folder"
        run([sys.executable, "-m", args[1], str(scratch / "out")], REPO, command)
    elif tool == "snakemake":
        parse(snakemake_parser()(), args, command)
    elif tool == "make":
        run(["make", "-n", *args], REPO, command)
    elif tool == "pytest":
        run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args], REPO, command)
    elif tool == "pip":
        return "installs from the network; the packages it names are pinned in requirements/"
    elif tool == "source":
        return "changes the calling shell only"
    else:
        raise AssertionError(f"{command}: a command of an unknown kind, add a rule for it")
    return None


COMMANDS = all_commands()


def test_documents_show_the_main_commands():
    texts = {c.text for c in COMMANDS}
    assert {"make run", "make test", "make test-fast", "snakemake -n"} <= texts
    assert any(t.startswith("neusdf query ") for t in texts)
    assert any(t.startswith("python bench/") for t in texts)
    wheres = {c.where.split(":")[0] for c in COMMANDS}
    assert {"README.md", "docs/cluster.md", "docs/performance.md"} <= wheres


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.where)
def test_documented_command_parses(command, tmp_path):
    reason = check_command(command, tmp_path)
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize(
    "text",
    [
        "neusdf mesh results/models/hashgrid/torus.pt -o torus.ply --resolutoin 256",
        "neusdf query results/models/hashgrid/torus.pt points.npy",  # -o is required
        "neusdf info --json",  # the checkpoint is required
        "neusdf check data/raw --sign maybe",
        "neusdf mesh results/models/hashgrid/torus.pt -o torus.ply --resolution high",
        "neusdf mseh results/models/hashgrid/torus.pt -o torus.ply",
        "neusdf chekc",  # a subcommand named in prose
        "python bench/training_curve.py --recipse e6-s90",
        "python bench/training_curve.py --recipes e6-s90,e7",  # e7 is not a recipe
        "python bench/hashgrid.py --variants fast,slow",
        "python bench/pipeline.py --objcts 2",
        "python bench/extraction.py",  # the checkpoints are required
        "snakemake --dryrun-please",
        "snakemake --cores 1 --resurces gpu=1",
        "make tset",
        "pytest tests/test_nothing_here.py",
        "ls -l data/raw",
    ],
)
def test_a_wrong_command_fails_the_check(text, tmp_path):
    with pytest.raises(AssertionError):
        check_command(Command(text, "example:1"), tmp_path)


def test_commands_are_found_in_blocks_spans_and_transcripts(tmp_path, monkeypatch):
    doc = tmp_path / "docs" / "page.md"
    doc.parent.mkdir()
    doc.write_text(
        "Run `neusdf info a.pt --json` or `snakemake`.\n\n"
        "```bash\nmake run   # all of it\nsnakemake -n --config 'seed=1'\n```\n\n"
        "```\n$ neusdf mesh a.pt -o a.ply\nwrote a.ply\n```\n\n"
        "```python\nimport neusdf\n```\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    found = [(c.text, c.where) for c in document_commands("docs/page.md")]
    assert found == [
        ("make run", "docs/page.md:4"),
        ("snakemake -n --config 'seed=1'", "docs/page.md:5"),
        ("neusdf mesh a.pt -o a.ply", "docs/page.md:9"),
        ("neusdf info a.pt --json", "docs/page.md:1"),
    ]


def test_every_python_block_is_run_by_a_test():
    for name in DOCUMENTS:
        text = (REPO / name).read_text()
        if not re.search(r"^```python$", text, flags=re.M):
            continue
        assert name in PYTHON_BLOCKS, f"{name}: a ```python block no test runs"
        test_file, test_name = PYTHON_BLOCKS[name]
        tree = ast.parse((REPO / test_file).read_text())
        functions = {
            node.name: ast.get_source_segment((REPO / test_file).read_text(), node)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
        }
        assert test_name in functions, f"{test_file}::{test_name} is gone"
        source = functions[test_name] + "".join(
            functions.get(called, "") for called in re.findall(r"(\w+)\(", functions[test_name])
        )
        assert Path(name).name in source and "```python" in source, (
            f"{test_file}::{test_name} does not read the python blocks of {name}"
        )


def dry_run(command: Command, scratch: Path) -> tuple[list[str], Path] | str:
    """The dry run that checks a ``snakemake`` command's DAG, or why it is checked elsewhere."""
    argv = argv_of(command.text)
    if "../shared" in command.text and not SHARED_MESHES.is_dir():
        return "needs ../shared/meshes, which is not here"
    if "--report" in argv:
        return "rendered by tests/test_workflow.py::test_report_is_one_page_that_renders"
    if "--sdm" in argv and shutil.which("conda") is None:
        return "needs conda, which this machine does not have"
    if "--unlock" in argv:  # acts on a working folder: a scratch one with one mesh
        (scratch / "data" / "raw").mkdir(parents=True)
        shutil.copy(REPO / "data" / "raw" / "sphere.obj", scratch / "data" / "raw")
        where = ["--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / "config.yaml")]
        return [str(BIN / "snakemake"), *argv[1:], *where], scratch
    return [str(BIN / "snakemake"), *argv[1:], "--dry-run"], REPO


def distinct_snakemake_commands() -> list[Command]:
    """The first place of each distinct ``snakemake`` command (documents repeat some)."""
    first: dict[str, Command] = {}
    for command in COMMANDS:
        if command.text.startswith("snakemake"):
            first.setdefault(command.text, command)
    return list(first.values())


@pytest.mark.slow
@pytest.mark.parametrize("command", distinct_snakemake_commands(), ids=lambda c: c.where)
def test_documented_snakemake_command_dry_runs(command, tmp_path):
    check = dry_run(command, tmp_path)
    if isinstance(check, str):
        pytest.skip(check)
    run(*check, command)


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of a Markdown document's headings (outside code blocks)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    anchors = set()
    for heading in re.findall(r"^#+\s+(.*)$", prose, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        anchors.add(slug.replace(" ", "-"))
    return anchors


def test_links_between_documents_resolve():
    broken = []
    for name in DOCUMENTS:
        text = (REPO / name).read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (REPO / name).parent / path if path else REPO / name
            if not file.exists():
                broken.append(f"{name}: {target} (no such file)")
            elif anchor and anchor not in heading_anchors(file.read_text()):
                broken.append(f"{name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
