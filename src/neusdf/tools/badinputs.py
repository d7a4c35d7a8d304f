"""The bad-input suite: small defective mesh files and the documented outcome for each.

``python -m neusdf.tools.badinputs tests/bad_inputs`` writes them. Each case is processed (possibly
with a warning in its log) or fails in one named stage with one line that names the file and the
reason; :data:`EXPECTED` is that documentation, and the tests hold the pipeline to it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from neusdf.io import atomic_path


@dataclass(frozen=True)
class Outcome:
    """What the pipeline does with one bad input.

    Attributes
    ----------
    stage : str
        ``"ok"`` when the object is processed to the end, else the stage that fails.
    reason : str
        A fragment of the one-line error (or of the log warning when ``stage == "ok"``).
    """

    stage: str
    reason: str


# File name → documented outcome. The object name is the file stem.
EXPECTED: dict[str, Outcome] = {
    "empty.obj": Outcome("normalize", "file is empty"),
    "random_bytes.obj": Outcome("normalize", "no triangle faces"),
    "point_cloud.ply": Outcome("normalize", "no triangle faces"),
    "nan_vertex.obj": Outcome("normalize", "NaN or infinite"),
    "inf_vertex.off": Outcome("normalize", "NaN or infinite"),
    "missing_vertex.off": Outcome("normalize", "face index outside"),
    "face_past_last_vertex.obj": Outcome("normalize", "face index outside"),
    "single_triangle.stl": Outcome("sample", "encloses no volume"),
    "flat_square.obj": Outcome("sample", "encloses no volume"),
    "degenerate_faces.ply": Outcome("ok", ""),
    "huge_coordinates.ply": Outcome("ok", ""),
    "open_box.stl": Outcome("ok", "not watertight"),
    "name with spaces ünïcødé.obj": Outcome("ok", ""),
}


def _cube() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=[1.0, 0.8, 0.6])


def _text(path: Path, content: str | bytes) -> None:
    data = content.encode() if isinstance(content, str) else content
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def _mesh(path: Path, mesh: trimesh.Trimesh) -> None:
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=path.suffix[1:].lower())


def write_bad_inputs(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Write every case of :data:`EXPECTED` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    _text(out / "empty.obj", b"")
    _text(out / "random_bytes.obj", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _text(
        out / "point_cloud.ply",
        "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
        "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n",
    )
    _text(out / "nan_vertex.obj", "v 0 0 0\nv 1 0 0\nv nan 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\n")
    _text(out / "inf_vertex.off", "OFF\n4 2 0\n0 0 0\n1 0 0\ninf 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n")
    _text(out / "missing_vertex.off", "OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n3 0 1 7\n")
    _text(out / "face_past_last_vertex.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 7\n")
    _mesh(
        out / "single_triangle.stl",
        trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False),
    )
    _text(out / "flat_square.obj", "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n")
    cube = _cube()
    zero_area = np.array([[0, 0, 0]])  # a face using one vertex three times
    dup = cube.faces[:3]
    _mesh(
        out / "degenerate_faces.ply",
        trimesh.Trimesh(cube.vertices, np.vstack([cube.faces, zero_area, dup]), process=False),
    )
    far = trimesh.creation.icosphere(subdivisions=2, radius=2.5e6)
    far.apply_translation([1e9, -2e9, 3e9])
    _mesh(out / "huge_coordinates.ply", far)
    _mesh(out / "open_box.stl", trimesh.Trimesh(cube.vertices, cube.faces[2:], process=False))
    _mesh(
        out / "name with spaces ünïcødé.obj",
        trimesh.creation.capsule(height=0.5, radius=0.3, count=[12, 12]),
    )
    return [out / name for name in EXPECTED]


def write_large_mesh(path: str | Path, n_faces: int = 2_000_000) -> Path:
    """A closed torus with about ``n_faces`` faces (not committed: made when needed)."""
    sections = max(3, round(np.sqrt(n_faces / 2)))
    torus = trimesh.creation.torus(
        major_radius=1.0, minor_radius=0.3, major_sections=sections, minor_sections=sections
    )
    _mesh(Path(path), torus)
    return Path(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="tests/bad_inputs")
    args = parser.parse_args(argv)
    for path in write_bad_inputs(args.out_dir):
        print(path)


if __name__ == "__main__":
    main()
