"""The embedded default data set: six small closed meshes the project makes itself.

Run ``python -m neusdf.tools.shapes data/raw`` to (re)create them. Each shape is written in a
different supported format so that every loader is exercised by the default run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from neusdf.io import atomic_path


def holed_box(outer: float = 0.8, inner: float = 0.35, height: float = 0.5) -> trimesh.Trimesh:
    """A square block with a square through hole along z (genus 1), built face by face.

    Parameters are half-widths of the outer and inner squares and the half-height.
    """
    square = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    rings = [square * outer, square * inner]
    vertices = []
    for z in (-height, height):
        for ring in rings:
            vertices += [[x, y, z] for x, y in ring]
    vertices = np.array(vertices)
    # Vertex blocks of 4: 0 bottom-outer, 4 bottom-inner, 8 top-outer, 12 top-inner.
    bo, bi, to, ti = 0, 4, 8, 12
    faces = []
    for k in range(4):
        n = (k + 1) % 4
        faces += [[to + k, to + n, ti + n], [to + k, ti + n, ti + k]]  # top ring, normal +z
        faces += [[bo + k, bi + n, bo + n], [bo + k, bi + k, bi + n]]  # bottom ring, normal -z
        faces += [[bo + k, bo + n, to + n], [bo + k, to + n, to + k]]  # outer wall, outward
        faces += [[bi + k, ti + n, bi + n], [bi + k, ti + k, ti + n]]  # inner wall, into the hole
    mesh = trimesh.Trimesh(vertices=vertices, faces=np.array(faces), process=True)
    trimesh.repair.fix_normals(mesh)
    return mesh


def rounded_box(
    half: tuple[float, float, float] = (0.7, 0.5, 0.35), radius: float = 0.15, resolution: int = 40
) -> trimesh.Trimesh:
    """A box with rounded edges: marching cubes of its exact SDF on a coarse grid."""
    axis = np.linspace(-1.0, 1.0, resolution)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    q = np.abs(grid) - (np.array(half) - radius)
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
    inside = np.minimum(q.max(axis=-1), 0.0)
    sdf = outside + inside - radius
    spacing = axis[1] - axis[0]
    verts, faces, _, _ = marching_cubes(sdf, level=0.0, spacing=(spacing,) * 3)
    mesh = trimesh.Trimesh(vertices=verts - 1.0, faces=faces[:, ::-1], process=True)
    trimesh.repair.fix_normals(mesh)
    return mesh


def default_shapes() -> dict[str, trimesh.Trimesh]:
    """File name → mesh for the embedded default data set (all closed and watertight)."""
    return {
        "sphere.obj": trimesh.creation.icosphere(subdivisions=3, radius=0.8),
        "torus.ply": trimesh.creation.torus(
            major_radius=0.6, minor_radius=0.25, major_sections=48, minor_sections=24
        ),
        "capsule.stl": trimesh.creation.capsule(height=1.0, radius=0.35, count=[24, 24]),
        "rounded_box.ply": rounded_box(),
        "holed_box.off": holed_box(),
        "thin_plate.glb": trimesh.creation.box(extents=[1.6, 1.2, 0.06]),
    }


def write_default_shapes(out_dir: str | Path) -> list[Path]:
    """Write :func:`default_shapes` into ``out_dir``; returns the written paths."""
    out_dir = Path(out_dir)
    written = []
    for name, mesh in default_shapes().items():
        assert mesh.is_watertight, name
        path = out_dir / name
        with atomic_path(path) as tmp:
            mesh.export(tmp, file_type=path.suffix[1:])
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="data/raw")
    args = parser.parse_args(argv)
    for path in write_default_shapes(args.out_dir):
        print(f"{path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
