"""Object discovery: recursive scans, the naming rule, manifests, include/exclude patterns."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from neusdf.pipeline.discovery import (
    MAX_NAME_BYTES,
    DiscoveryError,
    discover_objects,
    matches,
    object_names,
    other_files,
)
from tests.helpers import COLLECTION_LAYOUTS as LAYOUTS

SAFE = re.compile(r"[\w.+-]+")


def assert_safe_and_distinct(names) -> None:
    names = list(names)
    assert len({n.casefold() for n in names}) == len(names), "two paths share a name"
    for name in names:
        assert SAFE.fullmatch(name), name
        assert not name.startswith((".", "-")), name
        assert len(name.encode()) + len(".history.csv") <= 255, name


def touch(root, relative: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_public_layout_gets_its_documented_readable_names(layout, tmp_path):
    expected = LAYOUTS[layout]
    for relative in expected:
        touch(tmp_path, relative)
    touch(tmp_path, "readme.txt")
    found = discover_objects(tmp_path)
    assert found == {name: f"{tmp_path}/{rel}" for rel, name in sorted(expected.items())}
    assert list(found) == sorted(found)
    assert_safe_and_distinct(found)


def test_a_scan_skips_hidden_files_and_folders_and_follows_links_once(tmp_path):
    touch(tmp_path, "raw/a/one.obj")
    touch(tmp_path, "raw/.git/two.obj")
    touch(tmp_path, "raw/._one.obj")  # a macOS resource fork
    touch(tmp_path, "elsewhere/three.ply")
    (tmp_path / "raw" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "raw" / "a" / "loop").symlink_to(tmp_path / "raw")  # a cycle
    (tmp_path / "raw" / "broken.stl").symlink_to(tmp_path / "missing.stl")
    assert list(discover_objects(tmp_path / "raw")) == ["a-one", "linked-three"]
    assert other_files(tmp_path / "raw") == {}
    touch(tmp_path, "raw/a/one.mtl")
    assert other_files(tmp_path / "raw") == {".mtl": 1}


ADVERSARIAL = [
    # separators: "a-b/c" and "a/b-c" join to the same text
    "a-b/c.obj",
    "a/b-c.obj",
    "a/b/c.obj",
    # container folders and generic stems dropped into one name
    "chair.obj",
    "chair/model.obj",
    "chair/models/model.obj",
    "chair/meshes/model.obj",
    "chair/meshes/model.OBJ",
    # case and unicode normalization
    "Box.obj",
    "box.obj",
    "BOX.stl",
    "caf\u00e9.obj",
    "cafe\u0301.obj",
    # unsafe characters become "_"
    "a b.obj",
    "a_b.obj",
    "a:b.obj",
    "a*b.obj",
    # names that look like what the clash step produces
    "box-obj.obj",
    "box-stl.ply",
    # dots and dashes at the start, empty stems
    ".obj",
    "-x.obj",
    "x.obj",
    "..obj",
    "...obj",
    # longer than the limit, sharing a long prefix
    "unique.ply",
    "l" * 250 + "1.obj",
    "l" * 250 + "2.obj",
    "\u00fc" * 150 + ".obj",
]


def test_adversarial_paths_never_share_a_name():
    names = object_names(ADVERSARIAL)
    assert set(names) == set(ADVERSARIAL)
    assert_safe_and_distinct(names.values())
    assert names["chair.obj"] != names["chair/model.obj"]
    # A name the clash step would give is taken by a real file: both still differ.
    assert names["box-obj.obj"] != names["box.obj"]
    # A file whose name clashes with nothing keeps its readable name.
    assert names["unique.ply"] == "unique" and names["a:b.obj"] != names["a_b.obj"]


def test_crafted_digest_names_still_differ_from_what_they_imitate():
    from neusdf.pipeline.discovery import _digest

    first = object_names(["a/b.obj", "a-b.obj"])
    assert first == {
        "a/b.obj": f"a-b-obj-{_digest('a/b.obj')}",
        "a-b.obj": f"a-b-obj-{_digest('a-b.obj')}",
    }
    # Add files named exactly like those results: every name is still distinct.
    crafted = ["a/b.obj", "a-b.obj", *(f"{name}.ply" for name in first.values())]
    assert_safe_and_distinct(object_names(crafted).values())


def test_random_collections_from_a_small_alphabet_never_share_a_name():
    rng = random.Random(0)
    parts = ["a", "A", "b", "a-b", "a b", "models", "model", "mesh", "x.y", "\u00e9", "e\u0301"]
    extensions = [".obj", ".OBJ", ".ply", ".stl", ".glb", ".off"]
    for _ in range(300):
        paths = {
            "/".join(rng.choice(parts) for _ in range(rng.randint(0, 3)))
            + "/"
            + rng.choice(parts)
            + rng.choice(extensions)
            for _ in range(rng.randint(2, 40))
        }
        paths = {p.lstrip("/") for p in paths}
        assert_safe_and_distinct(object_names(paths).values())


def test_adding_a_file_renames_only_files_it_clashes_with():
    before = object_names(
        [f"{i:03d}/models/model_normalized.obj" for i in range(50)] + ["torus.ply"]
    )
    added = object_names([*before, "new/models/model_normalized.obj", "torus.obj"])
    renamed = {path for path in before if added[path] != before[path]}
    assert renamed == {"torus.ply"}
    assert added["torus.ply"] == "torus-ply" and added["torus.obj"] == "torus-obj"
    assert added["new/models/model_normalized.obj"] == "new"


def test_names_keep_letters_of_any_script_in_composed_form():
    names = object_names(["name with spaces \u00fcn\u00efc\u00f8d\u00e9.obj", "cafe\u0301/x.obj"])
    assert names["name with spaces \u00fcn\u00efc\u00f8d\u00e9.obj"] == (
        "name_with_spaces_\u00fcn\u00efc\u00f8d\u00e9"
    )
    assert names["cafe\u0301/x.obj"] == unicodedata.normalize("NFC", "cafe\u0301-x")


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.obj", "a/b/c.obj", True),  # no "/": the file name at any depth
        ("*.obj", "a/b/c.OBJ", False),  # case-sensitive
        ("c.*", "a/c.ply", True),
        ("a/*.obj", "a/b/c.obj", False),  # "*" stays within one folder
        ("a/**", "a/b/c.obj", True),
        ("**/b/*.obj", "a/b/c.obj", True),
        ("**/b/*.obj", "b/c.obj", True),  # "**/" may be no folder at all
        ("02691156/**", "03001627/x/models/model_normalized.obj", False),
        ("**/test/*", "airplane/test/airplane_0627.off", True),
        ("**/test/*", "airplane/train/airplane_0001.off", False),
        ("airplane_000?.off", "airplane/train/airplane_0001.off", True),
        ("[!a]*.stl", "raw_meshes/100026.stl", True),
        ("[!1]*.stl", "raw_meshes/100026.stl", False),
        ("/a/*.obj", "a/c.obj", True),  # a leading "/" anchors at raw_dir, as without it
    ],
)
def test_glob_patterns(pattern, path, expected):
    assert matches(path, pattern) is expected


def test_include_and_exclude_select_files_of_a_nested_collection(tmp_path):
    for relative in LAYOUTS["modelnet40"]:
        touch(tmp_path, relative)
    touch(tmp_path, "chair/train/chair_0001.off")
    found = discover_objects(tmp_path, include=["airplane/**"], exclude=["**/test/*"])
    assert list(found) == ["airplane-train-airplane_0001"]
    assert list(discover_objects(tmp_path, exclude=["airplane_*"])) == ["chair-train-chair_0001"]


def write_manifest(path, rows: list[str]) -> None:
    path.write_text("\n".join(rows) + "\n")


def test_a_manifest_names_rows_and_derives_names_for_rows_without_one(tmp_path):
    touch(tmp_path, "meshes/02691156/abc/models/model_normalized.obj")
    touch(tmp_path, "meshes/chair.obj")
    touch(tmp_path, "meshes/Chair.stl")
    touch(tmp_path, "elsewhere/bunny.ply")
    lists = tmp_path / "lists"
    lists.mkdir()
    write_manifest(
        lists / "train.csv",
        [
            "name,path",
            "plane,../meshes/02691156/abc/models/model_normalized.obj",
            ",../meshes/chair.obj",
            ",../meshes/Chair.stl",
            "chair-obj,../elsewhere/bunny.ply",  # takes the name the chair would get
            "",
        ],
    )
    found = discover_objects("ignored", manifest=lists / "train.csv")
    meshes = str(tmp_path / "meshes")
    assert found["plane"] == f"{meshes}/02691156/abc/models/model_normalized.obj"
    assert found["chair-obj"] == str(tmp_path / "elsewhere" / "bunny.ply")
    derived = {name: path for name, path in found.items() if name not in ("plane", "chair-obj")}
    assert sorted(derived.values()) == [f"{meshes}/Chair.stl", f"{meshes}/chair.obj"]
    assert_safe_and_distinct(found)
    only = discover_objects("ignored", include=["*.stl"], manifest=lists / "train.csv")
    assert list(only.values()) == [f"{meshes}/Chair.stl"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["name,file", "a,x.obj"], "needs a header with a 'path' column"),
        (["name,path", "a,"], "line 2: empty path"),
        (["name,path", "a,missing.obj"], "line 2: .*missing.obj: file not found"),
        (["name,path", "a b,x.obj"], "line 2: name 'a b' is not filesystem-safe"),
        (["name,path", "../a,x.obj"], "is not filesystem-safe"),
        (["name,path", "a,x.obj", "A,x.obj"], "line 3: name 'A' is also used on line 2"),
    ],
)
def test_a_bad_manifest_row_is_a_one_line_error_naming_the_line(rows, message, tmp_path):
    touch(tmp_path, "x.obj")
    write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(DiscoveryError, match=message) as info:
        discover_objects("ignored", manifest=tmp_path / "m.csv")
    assert "\n" not in str(info.value) and "m.csv" in str(info.value)


def test_missing_folder_and_manifest_are_clear_errors(tmp_path):
    with pytest.raises(DiscoveryError, match="not found"):
        discover_objects(tmp_path / "nope")
    with pytest.raises(DiscoveryError, match="manifest not found"):
        discover_objects(tmp_path, manifest=tmp_path / "nope.csv")


def test_names_longer_than_the_limit_are_cut_with_a_digest():
    names = object_names(["l" * 300 + ".obj", "l" * 301 + ".obj"])
    assert all(len(n.encode()) <= MAX_NAME_BYTES for n in names.values())
    assert len(set(names.values())) == 2
