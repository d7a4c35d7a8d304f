"""Find the input meshes of a run and give each one an object name.

The meshes come from a folder scanned recursively (``raw_dir``) or from a manifest (``objects``:
a CSV file with ``name,path`` rows); ``include`` and ``exclude`` glob patterns select among them.
Every object name is derived from the file's path by one rule (docs/datasets.md):

1. Take the path relative to ``raw_dir`` (or to the manifest's folder) without its extension.
   Drop the folders that only hold meshes (:data:`CONTAINER_FOLDERS`: ``models``, ``meshes``,
   ...) and a generic file stem (:data:`GENERIC_STEMS`: ``model``, ``model_normalized``, ...)
   when a folder remains to name the object.
2. Join what is left with ``-``; in each part, every run of characters other than letters, digits
   and ``_ . + -`` becomes ``_``; leading dots and dashes are dropped. A name longer than
   :data:`MAX_NAME_BYTES` is cut and given ``-`` and 8 hex digits of the SHA-256 of its path.
3. Names are compared ignoring case (so results never clash on a case-insensitive file
   system). Files whose names clash each get ``-<extension>``; files that still clash each get
   ``-`` and 8 hex digits of the SHA-256 of their relative path (longer if needed).

So ``02691156/1a04e3eab45ca15dd86060f189eb133/models/model_normalized.obj`` becomes
``02691156-1a04e3eab45ca15dd86060f189eb133``, and a flat folder with ``box.obj`` and ``box.STL``
gives ``box-obj`` and ``box-stl``. Steps 1 and 2 look at one path only: adding a file renames
another only when the two clash in step 3.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path, PurePosixPath

from neusdf.mesh.formats import SUPPORTED_EXTENSIONS

# Folders of public collections that hold an object's files but say nothing about the object.
CONTAINER_FOLDERS = frozenset({"models", "meshes", "mesh", "glbs", "raw_meshes"})
# File stems shared by every object of a collection (ShapeNet, Google Scanned Objects, YCB...).
GENERIC_STEMS = frozenset(
    {"model", "model_normalized", "model_watertight", "mesh", "scene", "textured"}
)
# Room for the longest output suffix (".history.csv", ".safetensors") within 255 bytes, and for
# the extension and digest that step 3 may add.
MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^\w.+-]+")  # \w: unicode letters and digits, and "_"
_SEPARATOR = "-"


class DiscoveryError(ValueError):
    """The raw folder or the manifest cannot be used (missing, a bad row, a clash of names)."""


def _digest(relative: str, length: int = 8) -> str:
    return hashlib.sha256(relative.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _safe_part(part: str) -> str:
    """One path component with every unsafe character run replaced by ``_``."""
    return _UNSAFE.sub("_", unicodedata.normalize("NFC", part))


def _cut(name: str, relative: str) -> str:
    """``name`` within :data:`MAX_NAME_BYTES` (UTF-8), cut at a character boundary."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    head = name.encode()[: MAX_NAME_BYTES - 9].decode("utf-8", "ignore")
    return f"{head}{_SEPARATOR}{_digest(relative)}"


def readable_name(relative: str) -> str:
    """Steps 1 and 2 of the naming rule: the name of one file from its relative path alone.

    Parameters
    ----------
    relative : str
        POSIX path relative to ``raw_dir`` (or the manifest's folder), with its extension.

    Returns
    -------
    str
        Letters, digits and ``_ . + -``; never empty, never starting with ``.`` or ``-``.
    """
    path = PurePosixPath(relative)
    folders = [p for p in path.parent.parts if p not in ("", ".", "..", "/")]
    kept = [p for p in folders if p.lower() not in CONTAINER_FOLDERS]
    stem = path.stem if path.suffix.lower() in SUPPORTED_EXTENSIONS else path.name
    if not (kept and stem.lower() in GENERIC_STEMS):
        kept.append(stem)
    parts = [safe for safe in map(_safe_part, kept) if safe]
    name = _SEPARATOR.join(parts).lstrip(".-")
    return _cut(name, relative) if name else _digest(relative)


def _clashes(names: dict[str, str], taken: frozenset[str]) -> list[list[str]]:
    """Groups of keys of ``names`` whose names are equal ignoring case (or equal a taken one)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for key, name in names.items():
        groups[name.casefold()].append(key)
    return [keys for folded, keys in groups.items() if len(keys) > 1 or (taken and folded in taken)]


def object_names(relatives: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """The object name of each relative path (the whole naming rule, step 3 included).

    Parameters
    ----------
    relatives : iterable of str
        Distinct POSIX paths relative to one folder.
    taken : iterable of str
        Names already in use (a manifest's explicit names): a derived name never equals one.

    Returns
    -------
    dict
        Relative path → object name; no two names are equal ignoring case.
    """
    names = {relative: readable_name(relative) for relative in relatives}
    taken = frozenset(name.casefold() for name in taken)
    for keys in _clashes(names, taken):
        for key in keys:
            extension = PurePosixPath(key).suffix.lower().lstrip(".")
            names[key] = f"{names[key]}{_SEPARATOR}{_safe_part(extension) or 'file'}"
    length = 8
    while clashes := _clashes(names, taken):
        if length > 64:  # only a SHA-256 collision could get here
            raise DiscoveryError("cannot give distinct object names to " + ", ".join(clashes[0]))
        for keys in clashes:
            for key in keys:
                names[key] = f"{names[key]}{_SEPARATOR}{_digest(key, length)}"
        length *= 2
    return names


@cache
def _glob_regex(pattern: str) -> re.Pattern:
    """A glob pattern as a regular expression over a relative POSIX path."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(relative: str, pattern: str) -> bool:
    """Whether a relative POSIX path matches a glob pattern.

    A pattern without ``/`` is matched against the file name, at any depth (``*.obj``); a pattern
    with ``/`` against the whole relative path, where ``*`` and ``?`` stay within one folder and
    ``**`` spans any number of them (``02691156/**``, ``**/train/*.off``). Case-sensitive.
    """
    pattern = pattern.lstrip("/")
    target = relative if "/" in pattern else relative.rpartition("/")[2]
    return _glob_regex(pattern).match(target) is not None


def selected(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether ``include`` (any pattern; empty: every file) and ``exclude`` (none) keep a path."""
    if include and not any(matches(relative, p) for p in include):
        return False
    return not any(matches(relative, p) for p in exclude)


def _walk(root: str | Path) -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) below ``root``, folders sorted; names starting with ``.`` skipped;
    symbolic links followed, each real folder once (no loops)."""
    visited = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:
            dirs[:] = []
            continue
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield folder, [name for name in files if not name.startswith(".")]


def scan_meshes(root: str | Path) -> list[str]:
    """Relative POSIX paths of every supported mesh file below ``root``, sorted.

    Extensions are matched in any case; files and folders whose names start with ``.`` are
    skipped (``.git``, macOS ``._name.obj`` forks); symbolic links are followed, each real folder
    visited once.
    """
    root = Path(root)
    if not root.is_dir():
        raise DiscoveryError(f"{root}: raw mesh folder not found (set raw_dir in config.yaml)")
    found = []
    for folder, files in _walk(root):
        base = os.path.relpath(folder, root)
        for name in files:
            if os.path.splitext(name)[1].lower() not in SUPPORTED_EXTENSIONS:
                continue
            relative = name if base == "." else f"{base}/{name}".replace(os.sep, "/")
            if os.path.isfile(os.path.join(folder, name)):  # not a broken link
                found.append(relative)
    return sorted(found)


def other_files(root: str | Path) -> Counter:
    """Files below ``root`` that :func:`scan_meshes` does not take, counted by lower-case
    extension (textures, materials, formats the pipeline does not read); hidden ones left out."""
    counts: Counter = Counter()
    for _, files in _walk(root):
        for name in files:
            suffix = os.path.splitext(name)[1].lower()
            if suffix not in SUPPORTED_EXTENSIONS:
                counts[suffix] += 1
    return counts


def read_manifest(
    manifest: str | Path, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> dict[str, str]:
    """Objects listed in a CSV manifest: a ``path`` column and an optional ``name`` column.

    Paths are relative to the manifest's folder (or absolute); a row without a name is named by
    :func:`object_names` from its path as written. ``include`` and ``exclude`` select rows by that
    path.

    Returns
    -------
    dict
        Object name → mesh path, sorted by name.

    Raises
    ------
    DiscoveryError
        One line naming the manifest, the row and the problem: no ``path`` column, an empty or
        missing path, a name that is not filesystem-safe, two rows with one name.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DiscoveryError(f"{manifest}: manifest not found (set objects in config.yaml)")
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "path" not in (reader.fieldnames or []):
            raise DiscoveryError(f"{manifest}: needs a header with a 'path' column (and 'name')")
        rows = [
            (reader.line_num, row) for row in reader if any((v or "").strip() for v in row.values())
        ]
    explicit: dict[str, tuple[int, str, str]] = {}  # name -> (line, path as written, path)
    unnamed: dict[str, tuple[int, str]] = {}  # path as written -> (line, path)
    lines: dict[str, int] = {}  # explicit name, case folded -> its line
    for line, row in rows:
        written = (row.get("path") or "").strip()
        name = (row.get("name") or "").strip()
        where = f"{manifest} line {line}"
        if not written:
            raise DiscoveryError(f"{where}: empty path")
        path = os.path.normpath(manifest.parent / written)
        if not os.path.isfile(path):
            raise DiscoveryError(f"{where}: {path}: file not found")
        if not name:
            if written in unnamed:
                raise DiscoveryError(
                    f"{where}: {written} is also listed on line {unnamed[written][0]}"
                )
            unnamed[written] = (line, path)
            continue
        if name != readable_name(name + ".obj") or len(name.encode()) > MAX_NAME_BYTES:
            raise DiscoveryError(
                f"{where}: name {name!r} is not filesystem-safe "
                "(letters, digits and _ . + - only, not starting with . or -)"
            )
        if name.casefold() in lines:
            raise DiscoveryError(
                f"{where}: name {name!r} is also used on line {lines[name.casefold()]}"
            )
        lines[name.casefold()] = line
        explicit[name] = (line, written, path)
    derived = object_names(unnamed, taken=explicit)
    objects = {name: (written, path) for name, (_, written, path) in explicit.items()}
    objects |= {derived[written]: (written, path) for written, (_, path) in unnamed.items()}
    # Names over the whole manifest, then the selection: a pattern never renames an object.
    return dict(
        sorted(
            (name, path)
            for name, (written, path) in objects.items()
            if selected(written.lstrip("./"), include, exclude)
        )
    )


def discover_objects(
    raw_dir: str | Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    manifest: str | Path | None = None,
) -> dict[str, str]:
    """Map object name → mesh path for every mesh of a run.

    Parameters
    ----------
    raw_dir : str or Path
        Folder scanned recursively (:func:`scan_meshes`) when there is no manifest; paths are
        returned as ``raw_dir`` joined with the relative path.
    include, exclude : sequence of str
        Glob patterns (:func:`matches`) over the relative path.
    manifest : str or Path, optional
        A CSV manifest (:func:`read_manifest`) used instead of scanning ``raw_dir``.

    Returns
    -------
    dict
        Sorted by name; names follow the rule in this module's docstring.

    Raises
    ------
    DiscoveryError
        When the folder or manifest is missing or a manifest row is unusable.
    """
    if manifest is not None:
        return read_manifest(manifest, include, exclude)
    # Names over the whole folder, then the selection: a pattern never renames an object.
    names = object_names(scan_meshes(raw_dir))
    raw = str(raw_dir).rstrip("/") or "/"
    return dict(
        sorted((name, f"{raw}/{r}") for r, name in names.items() if selected(r, include, exclude))
    )
