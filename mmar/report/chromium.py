"""Headless Chromium (Debian package ``chromium``): print the report to PDF, take screenshots.

Chromium is optional; :func:`find_chromium` returns None when it is not installed and callers skip
with a message.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio"]


def find_chromium() -> str | None:
    """The Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(binary: str, args: list[str], output: Path, timeout: float) -> Path:
    with tempfile.TemporaryDirectory(prefix="mmar-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not output.is_file() or output.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no {output.name} (exit {result.returncode}): {result.stderr[-800:]}")
    return output


def print_pdf(html: Path, pdf: Path, *, binary: str | None = None, timeout: float = 60) -> Path:
    """Print ``html`` to ``pdf`` (A4, the page's print CSS) with headless Chromium."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    pdf.unlink(missing_ok=True)
    return _run(binary, ["--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.resolve().as_uri()], pdf, timeout)


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2400, binary: str | None = None,
               timeout: float = 60) -> Path:
    """Render the top ``width`` × ``height`` pixels of ``html`` to ``png``."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    png.unlink(missing_ok=True)
    return _run(binary, [f"--window-size={width},{height}", f"--screenshot={png}", html.resolve().as_uri()], png,
                timeout)
