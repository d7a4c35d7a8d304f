"""Find the input meshes of a run: one object per supported file, named by its stem."""

from __future__ import annotations

from pathlib import Path

from neusdf.mesh.formats import SUPPORTED_EXTENSIONS


class DiscoveryError(ValueError):
    """The raw folder is missing or two files would produce the same object name."""


def discover_objects(raw_dir: str | Path) -> dict[str, str]:
    """Map object name (file stem) → mesh path for every supported file in ``raw_dir``.

    Parameters
    ----------
    raw_dir : str or Path
        Folder scanned non-recursively; extensions .obj .ply .stl .off .glb in any case.

    Returns
    -------
    dict
        Sorted by name.

    Raises
    ------
    DiscoveryError
        When ``raw_dir`` does not exist, or two files share a stem (``a.obj`` and ``a.ply``).
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DiscoveryError(f"{raw_dir}: raw mesh folder not found (set raw_dir in config.yaml)")
    objects: dict[str, str] = {}
    for path in sorted(raw_dir.iterdir()):
        if not path.is_file() or path.suffix.lower() not in SUPPORTED_EXTENSIONS:
            continue
        if path.stem in objects:
            raise DiscoveryError(
                f"{path}: object name {path.stem!r} is also used by {objects[path.stem]}; "
                "rename one of them"
            )
        objects[path.stem] = str(path)
    return dict(sorted(objects.items()))
