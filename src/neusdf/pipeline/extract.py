"""Stage 4, extract: the zero level set of a trained model as a mesh."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from neusdf.io import write_json
from neusdf.mesh.transform import Normalization
from neusdf.pipeline.compute import Compute

log = logging.getLogger(__name__)


def checkpoint_field(checkpoint_path: str, compute: Compute, batch_size: int):
    """A trained model as a plain field, with its stored transform.

    Returns
    -------
    sdf_fn : callable
        ``(M, 3) float32 points, normalized frame -> (M,) float32`` signed distances.
    normalization : Normalization
    model, payload
        The model and the checkpoint's other contents.
    """
    from neusdf.nn.models import load_checkpoint, predict_sdf

    compute = compute.resolved()
    model, payload = load_checkpoint(
        checkpoint_path, backend=compute.backend, device=compute.device, threads=compute.threads
    )
    sdf_fn = functools.partial(predict_sdf, model, batch_size=batch_size)
    return sdf_fn, Normalization.from_record(payload["normalization"]), model, payload


def extract_object(checkpoint_path: str, mesh_out: str, cfg: dict, compute: Compute) -> dict:
    """Marching-cubes zero level set of a trained model (``cfg = config["extract"]``).

    Writes the PLY (normalized frame, or the input's frame with ``original_frame``) and, next to
    it, a JSON record (frame, resolution, emptiness, face count).

    Returns
    -------
    dict
        That JSON record.
    """
    from neusdf.evaluation.extraction import extract_level_set_arrays
    from neusdf.mesh.ply import write_ply
    from neusdf.progress import counted, finish, progress

    batch_size = int(cfg["batch_size"])
    sdf_fn, normalization, _, _ = checkpoint_field(checkpoint_path, compute, batch_size)
    resolution = int(cfg["resolution"])
    # Counts grid nodes: evaluated ones as they go, the rest once the band has settled them.
    with progress(resolution**3, "extract", "point") as bar:
        vertices, faces, info = extract_level_set_arrays(
            counted(sdf_fn, bar), resolution=resolution, bound=1.0, batch_size=batch_size
        )
        finish(bar)
    if cfg["original_frame"]:
        vertices, info["frame"] = normalization.invert(vertices), "original"
    info["faces"] = len(faces)
    write_ply(mesh_out, vertices, faces)
    write_json(Path(mesh_out).with_suffix(".json"), info)
    log.info(
        "wrote %s: %d faces, frame %s, empty=%s",
        mesh_out,
        info["faces"],
        info["frame"],
        info["empty"],
    )
    return info
