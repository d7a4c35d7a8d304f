"""Binary PLY for the meshes the pipeline writes and reads back itself (normalized inputs,
extracted surfaces), without importing trimesh: its import (scipy and more) costs ~0.7 s, a
fifth of a short job. Input meshes in any format are read by :mod:`neusdf.mesh.load`.

The layout is the one trimesh writes (so files are unchanged): ``binary_little_endian``, vertex
``x y z`` as float32, faces as a ``uchar`` count (always 3) and three ``int`` indices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neusdf.errors import MeshError
from neusdf.io import atomic_path

__all__ = ["read_ply", "write_ply"]

# PLY scalar type names -> little-endian numpy types
_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "<i2", "int16": "<i2", "ushort": "<u2", "uint16": "<u2",
    "int": "<i4", "int32": "<i4", "uint": "<u4", "uint32": "<u4",
    "float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8",
}  # fmt: skip
_FACE = np.dtype([("count", "u1"), ("index", "<i4", (3,))])


def write_ply(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a triangle mesh atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or Path
    vertices : (V, 3) float array
        Stored as float32.
    faces : (F, 3) int array
        Vertex indices, stored as int32.
    """
    vertices = np.asarray(vertices, dtype="<f4").reshape(-1, 3)
    faces = np.asarray(faces).reshape(-1, 3)
    records = np.empty(len(faces), dtype=_FACE)
    records["count"] = 3
    records["index"] = faces
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment neusdf\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(header.encode("ascii"))
        out.write(np.ascontiguousarray(vertices).tobytes())
        out.write(records.tobytes())


def _header(path: Path, data: bytes) -> tuple[list[tuple[str, int, list]], int]:
    """Elements ``(name, count, properties)`` and the byte offset of the body."""
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise MeshError(path, "is not a PLY file (no 'ply' ... 'end_header' header)")
    elements: list[tuple[str, int, list]] = []
    for line in data[:end].decode("ascii", errors="replace").splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and words[1:2] != ["binary_little_endian"]:
            raise MeshError(path, f"is PLY '{' '.join(words[1:])}', expected binary_little_endian")
        if words[0] == "element":
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            elements[-1][2].append(words[1:])
    return elements, end + len(b"end_header\n")


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a binary little-endian triangle PLY (as :func:`write_ply` and trimesh write them).

    Returns
    -------
    vertices : (V, 3) float64
    faces : (F, 3) int64

    Raises
    ------
    MeshError
        Naming the file: not PLY, not binary little-endian, a face that is not a triangle, an
        index past the last vertex, or a body shorter than the header says.
    """
    path = Path(path)
    data = path.read_bytes()
    vertices = np.zeros((0, 3))
    faces = np.zeros((0, 3), dtype=np.int64)
    try:
        elements, offset = _header(path, data)
        for name, count, properties in elements:
            if properties and properties[0][0] == "list":
                _, count_type, index_type, _ = properties[0]
                dtype = np.dtype([("count", _TYPES[count_type]), ("index", _TYPES[index_type], 3)])
            else:
                dtype = np.dtype([(p[1], _TYPES[p[0]]) for p in properties])
            body = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            offset += dtype.itemsize * count
            if name == "vertex":
                vertices = np.stack([body[axis] for axis in "xyz"], axis=1).astype(np.float64)
            elif name == "face":
                if np.any(body["count"] != 3):
                    raise MeshError(path, "has faces that are not triangles")
                faces = body["index"].astype(np.int64)
    except (KeyError, ValueError, IndexError) as exc:
        raise MeshError(path, f"has a malformed PLY header or body ({exc})") from None
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise MeshError(path, "has a face index past the last vertex")
    return vertices, faces
