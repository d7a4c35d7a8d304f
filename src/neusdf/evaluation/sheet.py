"""One picture of one object: input, reconstruction, their distance and the sphere-traced field,
side by side from the same cameras (:mod:`neusdf.evaluation.render`), as a PIL image.

Columns are *panels* (one subject each), rows are *views*; a panel may carry a note (counts)
and a colour bar. Text is drawn with Pillow's built-in font, so the picture needs no system
fonts and comes out the same everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from neusdf.evaluation import render
from neusdf.evaluation.render import SDFCallable

__all__ = ["Panel", "comparison_sheet", "compose_sheet", "panel_origin"]

GAP = 6  # pixels between panels
GUTTER = 46  # left column with the view names
TITLE_FONT, TEXT_FONT = 15, 12
INK = (30, 30, 30)
FRAME = (215, 215, 215)


@dataclass(frozen=True)
class Panel:
    """One column of a sheet: one subject seen from every view.

    Attributes
    ----------
    title : str
        Column heading.
    images : list of (size, size, 3) uint8
        One image per view, in the sheet's view order.
    note : str
        A line under the column.
    colour_scale : float or None
        When set, a :func:`neusdf.evaluation.render.colour_ramp` bar from 0 to this value is
        drawn under the column, labelled ``colour_label``.
    colour_label : str
    """

    title: str
    images: list
    note: str = ""
    colour_scale: float | None = None
    colour_label: str = ""


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def panel_origin(column: int, row: int, size: int, titled: bool) -> tuple[int, int]:
    """Top-left pixel ``(x, y)`` of panel ``column`` in view ``row`` of a sheet drawn by
    :func:`compose_sheet` with ``size``-pixel panels (``titled``: with a title line)."""
    top = GAP + (TITLE_FONT + 8 if titled else 0) + TEXT_FONT + 6
    return GUTTER + column * (size + GAP), top + row * (size + GAP)


def compose_sheet(panels: Sequence[Panel], views: Sequence[str], title: str = ""):
    """Panels side by side, views one under another, with headings, notes and colour bars.

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    from PIL import Image, ImageDraw

    if not panels:
        raise ValueError("a sheet needs at least one panel")
    size = panels[0].images[0].shape[0]
    for panel in panels:
        if len(panel.images) != len(views):
            raise ValueError(f"{panel.title}: {len(panel.images)} images for {len(views)} views")
    title_font, text_font = _font(TITLE_FONT), _font(TEXT_FONT)
    top = panel_origin(0, 0, size, bool(title))[1]
    note_height = TEXT_FONT + 6 if any(p.note for p in panels) else 0
    bar_height = 2 * TEXT_FONT + 26 if any(p.colour_scale for p in panels) else 0
    width = GUTTER + len(panels) * (size + GAP) + GAP
    height = top + len(views) * (size + GAP) + note_height + bar_height + GAP
    background = tuple(round(255 * c) for c in render.BACKGROUND)
    sheet = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((GAP, GAP), title, fill=INK, font=title_font)
    for row, view in enumerate(views):
        y = top + row * (size + GAP) + size // 2 - TEXT_FONT // 2
        draw.text((4, y), view, fill=INK, font=text_font)
    below = top + len(views) * (size + GAP)
    for column, panel in enumerate(panels):
        x = panel_origin(column, 0, size, bool(title))[0]
        draw.text((x, top - TEXT_FONT - 4), panel.title, fill=INK, font=text_font)
        for row, image in enumerate(panel.images):
            y = panel_origin(column, row, size, bool(title))[1]
            sheet.paste(Image.fromarray(image), (x, y))
            draw.rectangle((x - 1, y - 1, x + size, y + size), outline=FRAME)
        if panel.note:
            draw.text((x, below), panel.note, fill=INK, font=text_font)
        if panel.colour_scale:
            _colour_bar(sheet, draw, x, below + note_height, size, panel, text_font)
    return sheet


def _colour_bar(sheet, draw, x: int, y: int, size: int, panel: Panel, font) -> None:
    """A horizontal colour-ramp bar under a column, ticks at 0, half and full scale."""
    from PIL import Image

    width, height = size - 24, 10
    ramp = render.colour_ramp(np.linspace(0.0, 1.0, width))
    bar = np.clip(np.rint(ramp * 255.0), 0, 255).astype(np.uint8)
    sheet.paste(Image.fromarray(np.ascontiguousarray(np.broadcast_to(bar, (height, width, 3)))),
                (x, y))  # fmt: skip
    draw.rectangle((x - 1, y - 1, x + width, y + height), outline=(90, 90, 90))
    scale = float(panel.colour_scale)
    for fraction in (0.0, 0.5, 1.0):
        text = f"{fraction * scale:.3g}"
        tick = x + round(fraction * (width - 1))
        draw.line((tick, y + height, tick, y + height + 3), fill=INK)
        left = tick - draw.textlength(text, font=font) / 2
        draw.text((max(left, x - 4), y + height + 4), text, fill=INK, font=font)
    draw.text((x, y + height + TEXT_FONT + 8), panel.colour_label, fill=INK, font=font)


def comparison_sheet(
    views: Sequence[str],
    size: int,
    mesh: tuple[np.ndarray, np.ndarray] | None,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    field: SDFCallable | None = None,
    distance_scale: float = 0.01,
    units: tuple[str, float] = ("normalized units", 1.0),
    names: tuple[str, str] = ("input", "reconstruction"),
    title: str = "",
    trace_size: int | None = None,
    threads: int | None = None,
):
    """Render one object's sheet: the reference mesh, the mesh, the mesh coloured by its
    distance to the reference, and the sphere-traced field, as far as each is given.

    Every panel uses the same camera per view, framed on the vertices of ``reference`` and
    ``mesh`` (the cube [-1, 1]^3 when neither has any).

    Parameters
    ----------
    views : sequence of str
        Names in :data:`neusdf.evaluation.render.VIEWS`, one row each.
    size : int
        Panel side, pixels.
    mesh : (vertices (V, 3), faces (F, 3)) or None
        The reconstruction (e.g. the extracted zero level set), normalized frame.
    reference : (vertices, faces) or None
        The input mesh, normalized frame. With ``mesh``: the distance panel, exact distances
        from each visible surface point of ``mesh`` to ``reference``
        (:func:`neusdf.groundtruth.closest_point`).
    field : callable or None
        ``(M, 3) float32 points, normalized frame -> (M,) float32`` signed distances, defined
        on [-1, 1]^3: the sphere-traced panel (holes counted against ``mesh``).
    distance_scale : float
        Distance shown darkest, normalized units.
    units : (name, factor)
        How the colour bar shows distances: ``factor`` units per normalized unit (the
        checkpoint's ``1 / scale`` for the input's own units).
    names : (str, str)
        Column headings of ``reference`` and ``mesh``.
    title : str
    trace_size : int, optional
        Rays per side of each view's sphere trace (default ``size``); the traced image is
        scaled to the panel with nearest-neighbour sampling, and holes are counted against the
        mesh rasterised at this size under the same framing.
    threads : int, optional
        Threads of the rasteriser (one view each) and of the closest-point query.

    Returns
    -------
    image : PIL.Image.Image
    record : dict
        ``views``, ``size``; ``distance`` (over visible pixels of ``mesh``, normalized units:
        ``median``, ``p95``, ``max``, ``pixels``) when a reference is given; ``trace`` (per view
        :func:`neusdf.evaluation.render.trace_counts` and their ``total``) when a field is.
    """
    views = list(views)
    framed = [m[0] for m in (reference, mesh) if m is not None and len(m[0])]
    points = np.concatenate(framed) if framed else np.array([[-1.0] * 3, [1.0] * 3])
    cameras = [render.camera_for_points(view, points, size) for view in views]
    workers = max(1, min(len(views), threads or os.cpu_count() or 1))
    record: dict = {"views": views, "size": int(size)}
    panels = []

    def seen(vertices, faces, under):
        """Per camera: the raster and the normals of the triangles it shows."""

        def one(camera):
            raster = render.rasterize(camera, vertices, faces)
            return raster, render.visible_normals(raster, vertices, faces)

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, under))

    if reference is not None:
        images = [
            render.image_of(raster.mask, render.mesh_colours(camera, normals))
            for camera, (raster, normals) in zip(cameras, seen(*reference, cameras), strict=True)
        ]
        panels.append(Panel(names[0], images))
    mesh_views = None
    if mesh is not None:
        mesh_views = seen(*mesh, cameras)
        images = [
            render.image_of(raster.mask, render.mesh_colours(camera, normals))
            for camera, (raster, normals) in zip(cameras, mesh_views, strict=True)
        ]
        panels.append(Panel(names[1], images))
        if reference is not None:
            panels.append(
                _distance_panel(cameras, mesh_views, reference, distance_scale, units,
                                f"distance to {names[0]}", threads, record)
            )  # fmt: skip
    if field is not None:
        trace_cameras = [replace(camera, size=int(trace_size or size)) for camera in cameras]
        hole_rasters = None
        if mesh is not None:
            same = trace_cameras[0].size == size
            views_traced = mesh_views if same else seen(*mesh, trace_cameras)
            hole_rasters = [raster for raster, _ in views_traced]
        panels.append(_field_panel(trace_cameras, field, hole_rasters, size, record))
    if not panels:
        raise ValueError("nothing to render: give a mesh, a reference or a field")
    return compose_sheet(panels, views, title), record


def _distance_panel(cameras, mesh_views, reference, scale, units, title, threads, record):
    from neusdf.groundtruth import build_tree, closest_point

    tree = build_tree(*reference, winding=False) if len(reference[1]) else None
    images, everything = [], []
    for camera, (raster, normals) in zip(cameras, mesh_views, strict=True):
        points = camera.unproject(raster.depth, raster.mask)
        if tree is None:
            distances = np.full(len(points), np.inf)
        else:
            distances = closest_point(tree, points, threads=threads).distance
        everything.append(distances)
        colours = render.distance_colours(camera, normals, distances, scale)
        images.append(render.image_of(raster.mask, colours))
    values = np.concatenate(everything)
    some = len(values) > 0
    record["distance"] = {
        "pixels": len(values),
        "median": float(np.median(values)) if some else float("nan"),
        "p95": float(np.percentile(values, 95)) if some else float("nan"),
        "max": float(values.max()) if some else float("nan"),
    }
    name, factor = units
    return Panel(
        title,
        images,
        colour_scale=scale * factor,
        colour_label=f"{name} (darkest: {scale * factor:.3g} or more)",
    )


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` scaled to ``size`` x ``size`` by nearest-neighbour sampling."""
    if image.shape[0] == size:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.NEAREST))


def _field_panel(cameras, field, mesh_rasters, size, record):
    traces = render.sphere_trace(field, cameras)
    images, per_view = [], []
    for index, (camera, trace) in enumerate(zip(cameras, traces, strict=True)):
        reference = None if mesh_rasters is None else mesh_rasters[index]
        per_view.append(render.trace_counts(trace, reference))
        image = render.image_of(trace.hit, render.field_colours(camera, field, trace))
        if reference is not None:
            holes = reference.mask & ~trace.hit
            image[holes] = np.rint(np.asarray(render.OVERSHOOT_COLOUR) * 255).astype(np.uint8)
        images.append(_resized(image, size))
    total = {
        key: sum(v[key] for v in per_view)
        for key in per_view[0]
        if key not in ("overshoot_max", "mean_steps")
    }
    total["overshoot_max"] = max(v["overshoot_max"] for v in per_view)
    record["trace"] = {"views": dict(zip(record["views"], per_view, strict=True)), "total": total}
    note = f"overshoot {total['overshoot']:,}"
    if "holes" in total:
        note += f", holes {total['holes']:,}"
    return Panel("field, sphere traced", images, note=note)
