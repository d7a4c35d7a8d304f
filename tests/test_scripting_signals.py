"""A stage terminated with SIGTERM (scancel, a time limit) leaves no temporary file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.helpers import REPO

STAGE = """
import sys, time
from neusdf.io import atomic_path
from neusdf.pipeline.jobs import job
with job(sys.argv[1], sys.argv[2], object="x"):
    with atomic_path(sys.argv[3]) as tmp:
        open(tmp, "w").write("half")
        print("writing", flush=True)
        time.sleep(60)
"""


def test_sigterm_mid_write_removes_the_temporary_file(tmp_path):
    final = tmp_path / "out" / "x.json"
    failure = tmp_path / "failure.json"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-c", STAGE, str(tmp_path / "x.log"), str(failure), str(final)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    assert not final.exists()
    assert list(final.parent.iterdir()) == [], "temporary file left behind"
    assert not failure.exists(), "an interruption is not a failure of the object"
