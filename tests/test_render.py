"""Rendering: the rasteriser against its reference and analytic coverage, sphere tracing of
analytic fields (hits, overshoots, holes), the picture sheet and the gallery page; then the
render stage, the gallery in the Snakemake report (looked at in headless Chromium) and
``neusdf render`` on a real tiny run."""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from neusdf.evaluation import render, sheet
from neusdf.evaluation.gallery import GalleryEntry, gallery_html
from neusdf.groundtruth import closest_point_naive
from tests.helpers import (
    REPO,
    SUMMARY_JOBS,
    TINY_CONFIG,
    TINY_MODEL,
    make_workdir,
    planned_jobs,
    run_snakemake,
)

WHITE = np.array([255, 255, 255])


def camera(view: str = "front", size: int = 16, half_width: float = 1.0) -> render.Camera:
    """A camera of ``view`` centered at the origin."""
    right, up, forward = render.view_axes(view)
    return render.Camera(right, up, forward, np.zeros(3), half_width, size)


def grid_mesh(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An n x n grid of squares over [-1, 1]^2 (two triangles each, both windings), heights
    random: vertices fall on pixel centers and edges through them under :func:`camera`."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(-1.0, 1.0, n + 1)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    vertices = np.column_stack([x.ravel(), y.ravel(), rng.uniform(-0.5, 0.5, x.size)])
    index = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b = index[:-1, :-1].ravel(), index[1:, :-1].ravel()
    c, d = index[1:, 1:].ravel(), index[:-1, 1:].ravel()
    faces = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, d, c])])
    return vertices, faces


# -- rasteriser -----------------------------------------------------------------------------------


def test_square_covers_the_pixels_whose_centers_it_contains():
    # [-0.5, 0.5]^2 at z = 0.3 seen from the front on 16 pixels over [-1, 1]: columns whose
    # centers lie in [4, 12] pixels, i.e. 4..11, likewise rows; depth -0.3 (forward is -z).
    vertices = np.array([[-0.5, -0.5, 0.3], [0.5, -0.5, 0.3], [0.5, 0.5, 0.3], [-0.5, 0.5, 0.3]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    raster = render.rasterize(camera(), vertices, faces)
    expected = np.zeros((16, 16), dtype=bool)
    expected[4:12, 4:12] = True
    np.testing.assert_array_equal(raster.mask, expected)
    np.testing.assert_allclose(raster.depth[expected], -0.3, atol=1e-15)
    assert np.isinf(raster.depth[~expected]).all()


@pytest.mark.parametrize("view", ["front", "right", "top", "iso"])
def test_fast_rasteriser_matches_reference(view):
    rng = np.random.default_rng(3)
    centers = rng.uniform(-0.8, 0.8, (150, 1, 3))
    random_vertices = (centers + rng.normal(scale=0.25, size=(150, 3, 3))).reshape(-1, 3)
    random_faces = np.arange(450).reshape(-1, 3)
    random_faces[::7] = random_faces[::7, [0, 0, 1]]  # some zero-area triangles
    for vertices, faces, size in [
        (random_vertices, random_faces, 40),
        (*grid_mesh(16, seed=1), 16),  # vertices and edges exactly on pixel centers
        (*grid_mesh(8, seed=2), 33),
    ]:
        cam = camera(view, size=size, half_width=1.0)
        fast = render.rasterize(cam, vertices, faces)
        slow = render.rasterize_reference(cam, vertices, faces)
        assert fast.mask.any()
        np.testing.assert_array_equal(fast.face, slow.face)
        np.testing.assert_array_equal(fast.depth, slow.depth)


def test_equal_depths_go_to_the_lower_face_index_and_empty_meshes_cover_nothing():
    vertices = np.array([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [0.0, 1.0, 0.0]])
    faces = np.array([[0, 1, 2], [2, 1, 0], [0, 1, 2]])  # the same triangle three times
    for rasterizer in (render.rasterize, render.rasterize_reference):
        raster = rasterizer(camera(), vertices, faces)
        assert set(np.unique(raster.face)) == {-1, 0}
        assert not rasterizer(camera(), vertices, faces[:0]).mask.any()
    with pytest.raises(ValueError, match="do not exist"):
        render.rasterize(camera(), vertices, np.array([[0, 1, 3]]))


def test_views_are_right_handed_and_cameras_frame_their_points():
    points = np.random.default_rng(0).uniform([-0.2, 0.1, -0.9], [0.9, 0.4, 0.3], (500, 3))
    for view in render.VIEWS:
        right, up, forward = render.view_axes(view)
        np.testing.assert_allclose(np.stack([right, up, forward]) @ np.stack([right, up,
                                   forward]).T, np.eye(3), atol=1e-15)  # fmt: skip
        # Looking along forward, right x up points back at the viewer.
        np.testing.assert_allclose(np.cross(right, up), -forward, atol=1e-15)
        cam = render.camera_for_points(view, points, 64)
        screen = cam.project(points)
        margin = 64 * render.FRAME_MARGIN / (1 + render.FRAME_MARGIN) / 2
        assert screen[:, :2].min() >= margin - 1e-9 and screen[:, :2].max() <= 64 - margin + 1e-9
        # The widest extent touches the margin on both sides of one axis.
        spans = screen[:, :2].max(axis=0) - screen[:, :2].min(axis=0)
        assert spans.max() == pytest.approx(64 - 2 * margin)
    with pytest.raises(ValueError, match="unknown view"):
        render.view_axes("diagonal")


def test_unproject_inverts_project():
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    cam = render.camera_for_points("iso", corners, 32)
    depth = np.random.default_rng(1).uniform(-1, 1, (32, 32))
    mask = depth > 0
    points = cam.unproject(depth, mask)
    screen = cam.project(points)
    rows, cols = np.nonzero(mask)
    np.testing.assert_allclose(screen[:, 0], cols + 0.5, atol=1e-12)
    np.testing.assert_allclose(screen[:, 1], rows + 0.5, atol=1e-12)
    np.testing.assert_allclose(screen[:, 2], depth[mask], atol=1e-12)


# -- sphere tracing -------------------------------------------------------------------------------


def sphere_field(radius: float, factor: float = 1.0):
    """``factor`` times the exact SDF of a sphere at the origin, float32 in and out."""
    return lambda p: (factor * (np.linalg.norm(p.astype(np.float64), axis=1) - radius)).astype(
        np.float32
    )


def test_exact_sphere_is_hit_inside_its_disk_at_its_depth_without_overshoot():
    cam = camera("iso", size=48, half_width=0.6)
    (trace,) = render.sphere_trace(sphere_field(0.5), [cam])
    rows, cols = np.indices(trace.status.shape)
    radial = np.hypot((cols + 0.5) * cam.pixel_size - 0.6, 0.6 - (rows + 0.5) * cam.pixel_size)
    eps = 0.5 * cam.pixel_size
    assert trace.hit[radial < 0.5 - 2 * cam.pixel_size].all()
    assert not trace.hit[radial > 0.5 + eps].any()
    # Hits lie on the sphere within eps, on its near side (the camera looks through the origin).
    points = cam.unproject(trace.depth, trace.hit)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 0.5, atol=eps)
    assert (points @ cam.forward < 0).all()
    assert trace.overshoot.max() == 0.0
    assert np.abs(trace.value[trace.hit]).max() < eps


def test_overestimating_field_overshoots_and_still_hits():
    cam = camera("front", size=32, half_width=0.6)
    (exact,) = render.sphere_trace(sphere_field(0.5), [cam])
    (over,) = render.sphere_trace(sphere_field(0.5, factor=1.5), [cam])
    counts = render.trace_counts(over)
    # From the cube's face at z = 1 the first step (1.5 x the distance 0.5 on the axis) lands
    # 0.25 inside, where the field reads -0.375; stepping back by negative values converges.
    assert counts["overshoot"] > 0.5 * counts["hit"]
    rows, cols = np.indices(over.status.shape)
    radial = np.hypot((cols + 0.5) * cam.pixel_size - 0.6, 0.6 - (rows + 0.5) * cam.pixel_size)
    interior = radial < 0.5 - 2 * cam.pixel_size
    assert over.hit[interior].all() and exact.hit[interior].all()
    assert counts["overshoot_max"] == pytest.approx(0.375, abs=0.01)


def test_a_thin_slab_stepped_through_shows_holes_where_its_mesh_covers():
    half = 0.01
    slab = trimesh.creation.box(extents=(1.2, 1.2, 2 * half))
    cam = camera("front", size=24, half_width=1.0)
    raster = render.rasterize(cam, slab.vertices, slab.faces)
    exact = lambda p: (np.abs(p[:, 2].astype(np.float64)) - half).astype(np.float32)  # noqa: E731
    tripled = lambda p: 3 * exact(p)  # noqa: E731
    (good,) = render.sphere_trace(exact, [cam])
    (bad,) = render.sphere_trace(tripled, [cam])
    # The slab is infinite in x and y for the field; its mesh covers the middle of the image.
    assert render.trace_counts(good, raster)["holes"] == 0
    counts = render.trace_counts(bad, raster)
    assert counts["hit"] == 0 and counts["holes"] == raster.mask.sum() > 100
    assert counts["extra"] == 0


# -- sheet ----------------------------------------------------------------------------------------


def icosphere(radius: float, subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_sheet_is_deterministic_and_the_same_on_any_thread_count(tmp_path):
    reference, mesh = icosphere(0.8, 2), icosphere(0.82, 4)
    pictures = []
    for threads in (1, 2, 1):
        image, record = sheet.comparison_sheet(
            ["front", "iso"], 48, mesh, reference, sphere_field(0.81), title="spheres",
            trace_size=24, threads=threads,
        )  # fmt: skip
        path = render.write_png(tmp_path / f"sheet{len(pictures)}.png", image)
        pictures.append(path.read_bytes())
    assert pictures[0] == pictures[1] == pictures[2]
    assert record["views"] == ["front", "iso"]
    assert record["trace"]["total"]["rays"] == 2 * 24 * 24
    assert record["trace"]["total"]["overshoot"] == 0  # an exact SDF never overshoots


def test_distance_panel_measures_exact_distances_to_the_reference():
    reference, mesh = icosphere(0.8, 3), icosphere(0.86, 3)
    cams = [render.camera_for_points("front", np.concatenate([reference[0], mesh[0]]), 40)]
    raster = render.rasterize(cams[0], *mesh)
    normals = render.visible_normals(raster, *mesh)
    record: dict = {}
    sheet._distance_panel(cams, [(raster, normals)], reference, 0.1, ("units", 1.0), "d", 1,
                          record)  # fmt: skip
    points = cams[0].unproject(raster.depth, raster.mask)
    naive = closest_point_naive(*reference, points).distance
    assert record["distance"]["pixels"] == len(points) > 500
    assert record["distance"]["median"] == pytest.approx(np.median(naive), abs=1e-12)
    assert record["distance"]["max"] == pytest.approx(naive.max(), abs=1e-12)
    # Concentric spheres 0.06 apart, both faceted at the same subdivision level.
    assert 0.05 < record["distance"]["median"] < 0.065


def silhouette(picture: np.ndarray, column: int, row: int, size: int) -> np.ndarray:
    """Pixels of one panel of a sheet (titled) that are not background."""
    x, y = sheet.panel_origin(column, row, size, titled=True)
    panel = picture[y : y + size, x : x + size]
    return (panel != WHITE).any(axis=2)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_sheet_panels_of_the_same_shape_overlap():
    reference, mesh = icosphere(0.8, 2), icosphere(0.8, 4)
    image, _ = sheet.comparison_sheet(["front", "top", "iso"], 64, mesh, reference,
                                      sphere_field(0.8), title="t", trace_size=64)  # fmt: skip
    picture = np.asarray(image)
    for row in range(3):
        shapes = [silhouette(picture, column, row, 64) for column in range(4)]
        assert shapes[0].mean() > 0.4
        for other in shapes[1:]:
            assert iou(shapes[0], other) > 0.95


def test_gallery_lists_worst_first_with_scores_and_failures_with_reasons(tmp_path):
    png = render.write_png(tmp_path / "a.png", np.full((20, 30, 3), 128, dtype=np.uint8))
    entries = [
        GalleryEntry("m", "good", 0.99, 0.001, png),
        GalleryEntry("m", "bad", 0.5, 0.02, png),
        GalleryEntry("m", "unscored", float("nan"), float("nan"), png),
        GalleryEntry("m", "broken", float("nan"), float("nan"), None, "sample", "x <y> & z"),
        GalleryEntry("m", "pending", 0.9, 0.001, None),
    ]
    page = gallery_html(entries)
    order = re.findall(r"<b>(\w+)</b>", page)
    assert order == ["unscored", "bad", "good"]
    assert "F1 0.5000" in page and "Chamfer 0.02" in page and "F1 n/a" in page
    assert "<td>sample</td><td>x &lt;y&gt; &amp; z</td>" in page
    assert "<td>pending</td><td>render</td><td>not rendered</td>" in page
    assert page.count("data:image/jpeg;base64,") == 3
    assert gallery_html(entries) == page


# -- the workflow, the report and the command -----------------------------------------------------

RENDER_DOC = REPO / "docs" / "rendering.md"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A tiny real run of sphere and torus (model ``hashgrid``) with its report."""
    config = copy.deepcopy(TINY_CONFIG)
    config["run_models"] = ["hashgrid"]
    config["models"] = {"hashgrid": copy.deepcopy(TINY_MODEL)}
    config["extract"]["resolution"] = 64
    # Enough points and levels for a reconstruction whose outline follows the input's.
    config["sample"].update(train_surface=20000, train_volume=20000)
    model = config["models"]["hashgrid"]
    model["encoding"].update(n_levels=6, finest_resolution=64, log2_hashmap_size=14)
    model["network"]["n_neurons"] = 32
    model["training"].update(epochs=8, batch_size=2048)
    config["render"] = {"size": 96, "trace_size": 48, "threads": 1}
    work = make_workdir(tmp_path_factory.mktemp("render"), config)
    proc = run_snakemake(work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    proc = run_snakemake(work, "--report", str(work / "report.html"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work


@pytest.mark.slow
def test_render_stage_writes_one_deterministic_picture_per_object(workdir, tmp_path):
    from neusdf.pipeline.compute import Compute
    from neusdf.pipeline.render import render_object

    for obj in ("sphere", "torus"):
        png = workdir / "results" / "renders" / "hashgrid" / f"{obj}.png"
        record = json.loads(png.with_suffix(".json").read_text())
        assert record["views"] == ["front", "top", "iso"] and record["size"] == 96
        trace = record["trace"]["total"]
        assert trace["rays"] == 3 * 48 * 48 and trace["hit"] > 0 and trace["holes"] >= 0
        assert 0 <= record["distance"]["median"] < 0.05
        assert (workdir / "results" / "benchmarks" / "render" / "hashgrid" / f"{obj}.tsv").is_file()
    # The same inputs give the same bytes.
    base = workdir / "results"
    config = {"views": ["front", "top", "iso"], "size": 96, "trace_size": 48,
              "distance_scale": 0.005}  # fmt: skip
    render_object(
        str(base / "normalized" / "torus.ply"), str(base / "normalized" / "torus.json"),
        str(base / "meshes" / "hashgrid" / "torus.ply"),
        str(base / "meshes" / "hashgrid" / "torus.json"),
        str(base / "models" / "hashgrid" / "torus.safetensors"), str(tmp_path / "again.png"),
        str(tmp_path / "again.json"), "hashgrid / torus", config, Compute("auto", "cpu", 2),
    )  # fmt: skip
    assert (tmp_path / "again.png").read_bytes() == (
        base / "renders" / "hashgrid" / "torus.png"
    ).read_bytes()


@pytest.mark.slow
def test_input_and_reconstruction_silhouettes_agree_in_every_view(workdir):
    from PIL import Image

    for obj in ("sphere", "torus"):
        png = workdir / "results" / "renders" / "hashgrid" / f"{obj}.png"
        picture = np.asarray(Image.open(png).convert("RGB"))
        for row in range(3):
            shapes = [silhouette(picture, column, row, 96) for column in range(4)]
            assert shapes[0].mean() > 0.1, (obj, row)
            # Input vs reconstruction, vs its distance colouring, vs the traced field.
            assert iou(shapes[0], shapes[1]) > 0.9, (obj, row)
            assert iou(shapes[1], shapes[2]) == 1.0, (obj, row)
            assert iou(shapes[1], shapes[3]) > 0.85, (obj, row)


def object_pixels(png: Path) -> tuple[int, int]:
    """Pixels of a screenshot in the lit object colour (bluish grey) and in the distance
    colours (warm: red well above blue)."""
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    grey_blue = (b - r >= 6) & (b - r <= 40) & (b < 235) & (np.abs(g - r) < 12)
    warm = (r - b >= 40) & (r > 120)
    return int(grey_blue.sum()), int(warm.sum())


@pytest.mark.slow
def test_gallery_is_in_the_report_and_renders_in_chromium(workdir):
    from PIL import Image

    from neusdf.tools.report import find_chromium, screenshot_html

    report = (workdir / "report.html").read_text(errors="replace")
    assert "gallery.html" in report and "Renders" in report
    page = (workdir / "results" / "gallery.html").read_text()
    assert re.findall(r"<b>(\w+)</b>", page) in (["sphere", "torus"], ["torus", "sphere"])
    if find_chromium() is None:
        pytest.skip("headless Chromium not installed: the gallery was not looked at")
    # The report shows a result in a frame after a click; open the gallery the same way.
    opener = (
        "<script>setTimeout(function () { const key = Object.keys(results).find("
        'function (p) { return p.endsWith("gallery.html"); }); app.setView({content: "html", '
        "contentPath: results[key].data_uri, resultPath: key}); }, 300);</script>"
    )
    at = report.rindex("</body>")
    opened = workdir / "report_gallery.html"
    opened.write_text(report[:at] + opener + report[at:])
    for source, shot in ((opened, "report_gallery.png"), (workdir / "results" / "gallery.html",
                                                          "gallery.png")):  # fmt: skip
        png = screenshot_html(source, workdir / shot, width=1400, height=1000, wait_ms=6000)
        pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert pixels.std() > 10, f"{shot} looks blank"
        grey_blue, warm = object_pixels(png)
        assert grey_blue > 2000 and warm > 300, (shot, grey_blue, warm)


@pytest.mark.slow
def test_render_settings_rerun_only_the_pictures_and_the_gallery(workdir):
    import yaml

    from tests.helpers import write_config

    config_path = workdir / "config.yaml"
    original = config_path.read_text()
    changed = yaml.safe_load(original)
    changed["render"]["views"] = ["iso"]
    write_config(workdir, changed)
    try:
        # The pictures are inputs of aggregate (so that --batch covers them): the summary, the
        # figures made from it and the gallery are made again; no model job is.
        assert planned_jobs(workdir) == {"render": 2, **SUMMARY_JOBS}
    finally:
        config_path.write_text(original)
    assert planned_jobs(workdir) == {}


def doc_commands() -> list[str]:
    """The ``neusdf render`` lines of docs/rendering.md's bash blocks."""
    text = RENDER_DOC.read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines += [line.split("#")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith("neusdf render")]


def neusdf_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "neusdf.cli", *args], capture_output=True, text=True, cwd=cwd,
        timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_documented_render_commands_run_on_a_real_run(workdir):
    from PIL import Image

    commands = doc_commands()
    assert len(commands) >= 2
    for command in commands:
        argv = shlex.split(command)[1:]
        proc = neusdf_cli(*argv, cwd=workdir)
        assert proc.returncode == 0, (command, proc.stderr[-2000:])
        out = workdir / argv[argv.index("-o") + 1]
        picture = np.asarray(Image.open(out).convert("RGB"))
        assert (picture != WHITE).any(axis=2).mean() > 0.05, command
        assert "wrote" in proc.stderr


@pytest.mark.slow
def test_render_command_options_and_one_line_errors(workdir):
    from PIL import Image

    model = "results/models/hashgrid/torus.safetensors"
    proc = neusdf_cli("render", model, "-o", "two.png", "--views", "iso,front", "--size", "40",
                      "--trace-size", "20", "--resolution", "32", cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    image = Image.open(workdir / "two.png")
    # Two columns (mesh, field) of 40 px, two rows: no reference, no distance column.
    assert image.width == sheet.GUTTER + 2 * (40 + sheet.GAP) + sheet.GAP
    assert "sphere trace:" in proc.stderr and "distance" not in proc.stderr
    # The raw input mesh as the reference (original frame): distances in its units.
    proc = neusdf_cli("render", model, "--reference", "data/raw/torus.ply", "-o", "o.png",
                      "--views", "top", "--size", "32", "--trace-size", "0",
                      cwd=workdir)  # fmt: skip
    assert proc.returncode == 0 and "original units" in proc.stderr, proc.stderr
    assert "sphere trace" not in proc.stderr
    for args, fragment in [
        (["render", model, "-o", "x.jpg"], "output must be .png"),
        (["render", model, "-o", "x.png", "--views", "front,diagonal"], "choose from"),
        (["render", "missing.safetensors", "-o", "x.png"], "file not found"),
        (["render", "results/meshes/hashgrid/nothing.ply", "-o", "x.png"], "file not found"),
        (["render", model, "-o", "x.png", "--size", "4"], "at least 16"),
    ]:
        proc = neusdf_cli(*args, cwd=workdir)
        assert proc.returncode == 1, (args, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("neusdf: error:")]
        assert len(errors) == 1 and fragment in errors[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not (workdir / "x.png").exists()


def test_view_names_agree_across_renderer_schema_and_command():
    from neusdf.cli import VIEW_NAMES, render_defaults
    from neusdf.config import CONFIG_SCHEMA, load_schema

    schema = load_schema(CONFIG_SCHEMA)["properties"]["render"]["properties"]["views"]
    assert tuple(render.VIEWS) == VIEW_NAMES == tuple(schema["items"]["enum"])
    assert set(render_defaults()["views"]) <= set(VIEW_NAMES)


@pytest.mark.slow
def test_renderer_bench_runs_on_a_real_run(workdir):
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "render.py"), "--results", "results", "--size",
         "32", "--repeats", "1", "--no-pyvista"],
        capture_output=True, text=True, cwd=workdir, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| sphere |" in proc.stdout and "| torus |" in proc.stdout
    assert "| neusdf (numba) |" in proc.stdout and "| True |" in proc.stdout
