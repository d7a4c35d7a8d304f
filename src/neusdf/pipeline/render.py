"""Stage 7, render: one picture per object (input, reconstruction, their distance, the
sphere-traced field) and the gallery page of every object, worst first."""

from __future__ import annotations

import logging
import math

from neusdf.nn.field import load_field
from neusdf.pipeline.compute import Compute

log = logging.getLogger(__name__)


def render_object(
    input_mesh_path: str,
    input_meta_path: str,
    mesh_path: str,
    mesh_meta_path: str,
    checkpoint_path: str,
    png_out: str,
    record_out: str,
    title: str,
    cfg: dict,
    compute: Compute,
) -> dict:
    """Render one object's sheet (``cfg = config["render"]``) and write it as a PNG, with a
    JSON record next to it (distance statistics and sphere-tracing counts, normalized units).

    The reconstruction is the extracted mesh (moved back into the normalized frame when it was
    written in the input's frame); the field is traced only when ``trace_size`` is positive.

    Returns
    -------
    dict
        The record.
    """
    from neusdf.evaluation.render import write_png
    from neusdf.evaluation.sheet import comparison_sheet
    from neusdf.io import read_json, write_json
    from neusdf.mesh.ply import read_ply
    from neusdf.mesh.transform import Normalization

    reference = read_ply(input_mesh_path)
    vertices, faces = read_ply(mesh_path)
    if read_json(mesh_meta_path).get("frame") == "original":
        vertices = Normalization.read(input_meta_path).apply(vertices)
    field = None
    if cfg["trace_size"] > 0:
        field = load_field(
            checkpoint_path, backend=compute.backend, device=compute.device, threads=compute.threads
        )
    image, record = comparison_sheet(
        views=cfg["views"],
        size=cfg["size"],
        mesh=(vertices, faces),
        reference=reference,
        field=field,
        distance_scale=cfg["distance_scale"],
        title=title,
        trace_size=cfg["trace_size"],
        threads=compute.threads,
    )
    write_png(png_out, image)
    write_json(record_out, record)
    trace = record.get("trace", {}).get("total")
    if trace:
        log.info(
            "sphere trace: %d rays, %d hit, %d overshot (deepest %.4g), %d holes, %d unconverged",
            trace["rays"], trace["hit"], trace["overshoot"], trace["overshoot_max"],
            trace["holes"], trace["unconverged"],
        )  # fmt: skip
    log.info("wrote %s", png_out)
    return record


def write_gallery(summary_csv: str, render_pattern: str, html_out: str) -> int:
    """The gallery page: every (model, object) of ``summary.csv`` with its render
    (``render_pattern.format(model=..., obj=...)``), worst surface F1 first, and the failed
    ones with their reason.

    Returns
    -------
    int
        Objects shown with a picture.
    """
    from pathlib import Path

    from neusdf.evaluation.gallery import GalleryEntry, gallery_html
    from neusdf.evaluation.summary import read_summary
    from neusdf.io import atomic_path

    # Text as written (an object named 007 stays "007"); empty scores of failed rows are NaN.
    summary = read_summary(summary_csv)
    entries = []
    for row in summary.itertuples(index=False):
        picture = Path(render_pattern.format(model=row.model, obj=row.object))
        failed = row.status != "ok"
        entries.append(
            GalleryEntry(
                model=str(row.model),
                object=str(row.object),
                surface_f1=_number(row.surface_f1),
                chamfer_l1=_number(row.chamfer_l1),
                picture=picture if picture.is_file() and not failed else None,
                failed_stage=str(row.failed_stage) if failed else "",
                error=str(row.error) if failed else "",
            )
        )
    with atomic_path(html_out) as tmp:
        Path(tmp).write_text(gallery_html(entries), encoding="utf-8")
    shown = sum(entry.picture is not None for entry in entries)
    log.info("wrote %s: %d pictures, %d without", html_out, shown, len(entries) - shown)
    return shown


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number
