import pytest

from neusdf.pipeline.discovery import DiscoveryError, discover_objects


def test_discovers_supported_files_case_insensitively(tmp_path):
    for name in ["a.obj", "b.PLY", "c.Stl", "d.off", "e.glb", "notes.txt", "f.xyz"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    assert list(discover_objects(tmp_path)) == ["a", "b", "c", "d", "e"]


def test_same_stem_twice_is_a_clear_error(tmp_path):
    (tmp_path / "chair.obj").write_text("x")
    (tmp_path / "chair.stl").write_text("x")
    with pytest.raises(DiscoveryError, match="chair"):
        discover_objects(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DiscoveryError, match="not found"):
        discover_objects(tmp_path / "nope")
