"""What code a stage runs, as a fingerprint the workflow's rules depend on.

Snakemake reruns a job when its ``script:`` file changes, but the scripts are thin: the logic is
in this package. Each rule therefore carries ``params: code=<fingerprint>``, a hash of the source
of every ``neusdf`` module its stage can import (found statically, lazy imports inside functions
included; in a package's ``__init__`` only its module-level imports), so editing or upgrading
the code a stage runs reruns that stage and what depends on its outputs, and nothing else.
Docstrings, comments and formatting do not count (the hash is over the syntax tree without
docstrings), nor does the version string, which outputs only record.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import cache
from pathlib import Path

PACKAGE = "neusdf"
# Provenance only: bumping the version must not rerun anything.
IGNORED = frozenset({"neusdf.version"})


@cache
def _source(module: str) -> Path | None:
    """The source file of a ``neusdf`` module, found by path (nothing is imported)."""
    root = Path(importlib.util.find_spec(PACKAGE).origin).parent
    parts = module.split(".")[1:]
    for candidate in (
        root.joinpath(*parts).with_suffix(".py"),
        root.joinpath(*parts, "__init__.py"),
    ):
        if parts or candidate.name == "__init__.py":
            if candidate.is_file():
                return candidate
    return None


def _imports(module: str, tree: ast.Module) -> set[str]:
    """``neusdf`` modules named by any import statement of ``tree`` (``module``'s source)."""
    found = set()
    is_package = _source(module).name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    # A package's __init__ runs on import, but only its module-level statements: a lazy import
    # inside one of its functions (``neusdf.load``) belongs to whoever calls that function.
    nodes = tree.body if is_package else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # ``from a import b`` may import the module a.b or a name of a: keep what exists.
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == PACKAGE and _source(name) is not None:
                found.add(name)
                # Importing a.b.c runs a/__init__ and a/b/__init__ too.
                parts = name.split(".")
                found.update(".".join(parts[:k]) for k in range(1, len(parts)))
    return found


def _strip_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def _parsed(module: str) -> tuple[str, frozenset[str]]:
    """A module's syntax tree without docstrings (dumped) and the package modules it imports."""
    tree = ast.parse(_source(module).read_text(), filename=str(_source(module)))
    return ast.dump(_strip_docstrings(tree)), frozenset(_imports(module, tree))


def modules_run_by(module: str) -> list[str]:
    """``module`` and every ``neusdf`` module it can import, directly or not, sorted."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or name in IGNORED or _source(name) is None:
            continue
        seen.add(name)
        todo.extend(_parsed(name)[1])
    return sorted(seen)


def code_fingerprint(module: str) -> str:
    """A short hash of the code of :func:`modules_run_by` ``module`` (docstrings excluded)."""
    digest = hashlib.sha256()
    for name in modules_run_by(module):
        digest.update(name.encode() + b"\0" + _parsed(name)[0].encode() + b"\0")
    return digest.hexdigest()[:16]
