"""The gallery page: every object's picture on one self-contained HTML page, worst surface F1
first, captioned with its scores, and the objects without a picture listed with the reason.

Pictures are embedded as JPEG data URIs (no files next to the page), so the page works when
opened on its own and inside the Snakemake report, which shows HTML results in a frame.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GalleryEntry", "gallery_html", "thumbnail_uri"]

# Thumbnail width, pixels (the whole sheet scaled down), and JPEG quality.
THUMBNAIL_WIDTH = 480
JPEG_QUALITY = 85

STYLE = f"""
body {{ font-family: sans-serif; margin: 16px; color: #222; background: #fff; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
h2 {{ font-size: 16px; margin: 20px 0 8px; }}
p {{ font-size: 13px; margin: 4px 0; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; border: 1px solid #ddd; padding: 4px; }}
figure img {{ display: block; width: {THUMBNAIL_WIDTH}px; max-width: 100%; }}
figcaption {{ font-size: 13px; padding: 4px 2px 0; }}
figcaption .rank {{ color: #888; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
"""


@dataclass(frozen=True)
class GalleryEntry:
    """One (model, object) of the summary.

    Attributes
    ----------
    model, object : str
    surface_f1, chamfer_l1 : float
        NaN when not measured.
    picture : Path or None
        Its render (PNG); None when there is none (failed, or not rendered).
    failed_stage, error : str
        Where and why it failed; empty for objects that did not fail.
    """

    model: str
    object: str
    surface_f1: float
    chamfer_l1: float
    picture: Path | None
    failed_stage: str = ""
    error: str = ""


def thumbnail_uri(png: str | Path, width: int = THUMBNAIL_WIDTH) -> str:
    """A ``data:image/jpeg;base64,...`` URI of a picture scaled to ``width`` pixels (Lanczos);
    the same file gives the same bytes."""
    from PIL import Image

    with Image.open(png) as image:
        image = image.convert("RGB")
        height = max(1, round(image.height * width / image.width))
        small = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _score(value: float, digits: str) -> str:
    return "n/a" if math.isnan(value) else format(value, digits)


def _worst_first(entry: GalleryEntry) -> tuple:
    # Unmeasured scores first (as suspicious as the worst), then ascending F1, then the name.
    f1 = entry.surface_f1
    return (not math.isnan(f1), f1 if not math.isnan(f1) else 0.0, entry.object)


def gallery_html(entries: Sequence[GalleryEntry], title: str = "neusdf gallery") -> str:
    """The page: one section per model with its pictures, worst surface F1 first, then a table of
    the entries without a picture (failed: stage and reason; otherwise "not rendered")."""
    esc = html.escape
    shown = [e for e in entries if e.picture is not None]
    missing = [e for e in entries if e.picture is None]
    models = sorted({e.model for e in entries})
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>{len(shown)} of {len(entries)} objects pictured, worst surface F1 first. Columns of "
        "each picture: the normalized input mesh, the reconstruction (extracted mesh), the "
        "reconstruction coloured by its distance to the input, the sphere-traced field; rows: "
        "views. Chamfer L1 in normalized units.</p>",
    ]
    for model in models:
        group = sorted((e for e in shown if e.model == model), key=_worst_first)
        if not group:
            continue
        scores = [e.surface_f1 for e in group if not math.isnan(e.surface_f1)]
        mean = f", mean surface F1 {sum(scores) / len(scores):.4f}" if scores else ""
        parts.append(f"<h2>{esc(model)}: {len(group)} objects{mean}</h2>")
        parts.append('<div class="grid">')
        for rank, entry in enumerate(group, start=1):
            caption = (
                f'<span class="rank">{rank}.</span> <b>{esc(entry.object)}</b> &middot; '
                f"F1 {_score(entry.surface_f1, '.4f')} &middot; "
                f"Chamfer {_score(entry.chamfer_l1, '.3g')}"
            )
            alt = f"{entry.model} / {entry.object}"
            parts.append(
                f'<figure><img src="{thumbnail_uri(entry.picture)}" alt="{esc(alt)}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        parts.append("</div>")
    if missing:
        parts.append(f"<h2>Without a picture: {len(missing)}</h2>")
        parts.append("<table><tr><th>model</th><th>object</th><th>stage</th><th>reason</th></tr>")
        for entry in sorted(missing, key=lambda e: (e.model, e.object)):
            stage = entry.failed_stage or ("" if entry.error else "render")
            reason = entry.error or "not rendered"
            parts.append(
                f"<tr><td>{esc(entry.model)}</td><td>{esc(entry.object)}</td>"
                f"<td>{esc(stage)}</td><td>{esc(reason)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
