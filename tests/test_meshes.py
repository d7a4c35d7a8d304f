import json

import numpy as np
import pytest
import trimesh

from neusdf.errors import MeshError
from neusdf.mesh.load import load_mesh, normalize_file, normalize_mesh, read_normalized
from tests.helpers import REPO


def test_normalize_centers_and_scales_longest_half_extent(sphere_mesh):
    mesh = sphere_mesh.copy()
    mesh.apply_scale([3.0, 1.0, 0.5])
    mesh.apply_translation([10.0, -4.0, 2.0])
    normalized, transform = normalize_mesh(mesh, half_extent=0.9)
    lo, hi = normalized.bounds
    np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-12)
    assert np.max(hi - lo) / 2 == pytest.approx(0.9)
    # uniform scale keeps aspect ratios
    np.testing.assert_allclose(
        normalized.extents / normalized.extents[0], [1, 1 / 3, 1 / 6], rtol=1e-9
    )
    np.testing.assert_allclose(transform.invert(normalized.vertices), mesh.vertices, atol=1e-9)
    np.testing.assert_allclose(transform.apply(mesh.vertices), normalized.vertices, atol=1e-12)


def test_normalize_file_writes_mesh_and_record(tmp_path, sphere_mesh):
    src = tmp_path / "ball.stl"
    sphere_mesh.export(src)
    record = normalize_file(src, tmp_path / "out.ply", tmp_path / "out.json", half_extent=0.5)
    on_disk = json.loads((tmp_path / "out.json").read_text())
    assert on_disk == record
    assert record["watertight"] and record["n_faces"] == len(sphere_mesh.faces)
    assert len(record["source_sha256"]) == 64
    vertices, faces = read_normalized(tmp_path / "out.ply")
    assert np.abs(vertices).max() == pytest.approx(0.5)
    assert faces.shape == (len(sphere_mesh.faces), 3)
    assert not list(tmp_path.glob("*.tmp*")), "temporary files left behind"


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".stl", ".off", ".glb", ".STL"])
def test_every_supported_format_loads(tmp_path, sphere_mesh, suffix):
    path = tmp_path / f"ball{suffix}"
    sphere_mesh.export(path, file_type=suffix[1:].lower())
    mesh = load_mesh(path)
    assert len(mesh.faces) == len(sphere_mesh.faces)
    assert mesh.is_watertight


def test_textured_obj_seams_are_welded(shared_meshes):
    mesh = load_mesh(shared_meshes / "c3d__spot.obj")
    assert mesh.is_watertight
    assert len(mesh.faces) == 5856


def test_quads_are_triangulated(shared_meshes):
    mesh = load_mesh(shared_meshes / "trimesh__quadknot.obj")
    assert mesh.faces.shape[1] == 3 and mesh.is_watertight


def test_multi_body_file_is_merged_into_one_mesh(shared_meshes):
    mesh = load_mesh(shared_meshes / "trimesh__box.STL")
    assert len(mesh.split(only_watertight=False)) == 10


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (bytes(range(256)) * 8, "no triangle faces"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangle faces"),
        (b"v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "NaN or infinite"),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.obj"
    path.write_bytes(content)
    with pytest.raises(MeshError) as info:
        load_mesh(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and reason in message


def test_unsupported_extension_is_refused(tmp_path):
    path = tmp_path / "mesh.xyz"
    path.write_text("1 2 3\n")
    with pytest.raises(MeshError, match="unsupported extension"):
        load_mesh(path)


def test_degenerate_and_duplicate_faces_are_dropped(tmp_path):
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 1, 2], [0, 1, 3]])  # duplicate + zero-area (collinear)
    path = tmp_path / "tri.ply"
    trimesh.Trimesh(vertices, faces, process=False).export(path)
    mesh = load_mesh(path)
    assert len(mesh.faces) == 1


def write_obj_float64(path, vertices, faces):
    """An OBJ with every float64 digit (trimesh's exporters round)."""
    lines = [f"v {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in np.asarray(vertices)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1.0, 1e6, 1e12])
@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_normalization_is_scale_and_offset_invariant(tmp_path, scale, offset):
    if offset and scale < 1e-3:
        pytest.skip("float64 cannot hold a 1e-3-sized mesh 1e9 away from the origin")
    tetra = trimesh.creation.box().subdivide()  # 48 faces, some sharing planes
    reference, _ = normalize_mesh(tetra)
    path = tmp_path / "scaled.obj"
    write_obj_float64(path, tetra.vertices * scale + offset, tetra.faces)
    normalized, transform = normalize_mesh(load_mesh(path))
    assert len(normalized.faces) == len(reference.faces)
    np.testing.assert_allclose(
        np.sort(normalized.vertices, axis=0),
        np.sort(reference.vertices, axis=0),
        atol=1e-6 if offset else 1e-12,
    )
    # Offsets cost float64 digits: 1e9 leaves about 7 of them for a unit-sized mesh.
    assert transform.scale == pytest.approx(1.0 / scale * 0.9 / 0.5, rel=1e-6 if offset else 1e-12)


def test_tiny_tetrahedron_is_not_degenerate(tmp_path):
    tetra = trimesh.Trimesh(
        np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float) * 1e-13,
        [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        process=False,
    )
    write_obj_float64(tmp_path / "tiny.obj", tetra.vertices, tetra.faces)
    normalized, _ = normalize_mesh(load_mesh(tmp_path / "tiny.obj"))
    assert len(normalized.faces) == 4
    assert np.abs(normalized.vertices).max() == pytest.approx(0.9)


@pytest.mark.parametrize("name", ["face_past_last_vertex.obj", "missing_vertex.off"])
def test_face_past_the_last_vertex_gives_one_message_for_obj_and_off(name):
    with pytest.raises(MeshError, match="has a face index outside the range of its vertices"):
        load_mesh(REPO / "tests" / "bad_inputs" / name)


def test_ply_round_trip_and_trimesh_agree(tmp_path):
    """Our PLY writer/reader (no trimesh import) keeps vertices (as float32) and faces, trimesh
    reads our files, we read trimesh's, and a broken file is one MeshError naming it."""
    from neusdf.mesh.ply import read_ply, write_ply

    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    vertices = box.vertices + 0.1234567891
    write_ply(tmp_path / "ours.ply", vertices, box.faces)
    v, f = read_ply(tmp_path / "ours.ply")
    assert v.dtype == np.float64 and f.dtype == np.int64
    np.testing.assert_array_equal(v, vertices.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(f, box.faces)
    theirs = trimesh.load(tmp_path / "ours.ply", process=False)
    np.testing.assert_array_equal(theirs.faces, box.faces)
    np.testing.assert_array_equal(theirs.vertices, v)
    trimesh.Trimesh(vertices, box.faces, process=False).export(tmp_path / "theirs.ply")
    np.testing.assert_array_equal(read_ply(tmp_path / "theirs.ply")[0], v)

    write_ply(tmp_path / "empty.ply", np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
    assert [len(a) for a in read_ply(tmp_path / "empty.ply")] == [0, 0]

    data = (tmp_path / "ours.ply").read_bytes()
    broken = {
        "text.ply": b"solid nothing\n",
        "ascii.ply": data.replace(b"binary_little_endian", b"ascii", 1),
        "short.ply": data[:-7],
        "index.ply": data[:-4] + np.int32(99).tobytes(),
    }
    for name, content in broken.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(MeshError, match=name):
            read_ply(tmp_path / name)
