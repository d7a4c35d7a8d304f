"""Look at the Snakemake report as a person would: render it in headless Chromium to a PNG.

``python -m neusdf.tools.report report.html report.png`` (needs Debian's ``chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

# Chromium tries to reach Google services at start; these flags keep it offline and quiet.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot_html(
    html: str | Path,
    png: str | Path,
    width: int = 1400,
    height: int = 1800,
    wait_ms: int = 4000,
    url_suffix: str = "",
) -> Path:
    """Render ``html`` (a local file) in headless Chromium and save a screenshot.

    Parameters
    ----------
    html : path of the page
    png : path of the screenshot to write
    width, height : window size, pixels
    wait_ms : virtual time for the page's scripts to run before the shot
    url_suffix : appended to the file URL (e.g. a ``#/...`` route of the report's app)
    """
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium not found (apt-get install chromium)")
    png = Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="neusdf-chromium-") as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--virtual-time-budget={wait_ms}",
                f"--screenshot={png}",
                Path(html).resolve().as_uri() + url_suffix,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html")
    parser.add_argument("png")
    parser.add_argument("--suffix", default="", help="URL fragment, e.g. '#/...'")
    args = parser.parse_args(argv)
    print(screenshot_html(args.html, args.png, url_suffix=args.suffix))


if __name__ == "__main__":
    main()
