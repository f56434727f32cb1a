"""A Sphinx extension that keeps the built book offline: no page fetches anything from the network.

Jupyter Book's stack adds three remote scripts: MathJax from a CDN (myst-nb loads it on every notebook
page, math or not), and require.js plus the Jupyter widgets manager when outputs hold widgets. The book
has no LaTeX math and its notebooks' widget outputs (progress bars) are stripped before the build
(:func:`mmar.report.book.strip_widgets`), so these are dropped rather than bundled. Anything else remote
is dropped too; :func:`mmar.report.book.remote_resources` checks the built files.
"""

from __future__ import annotations

from typing import Any

REMOTE_PREFIXES = ("http://", "https://", "//")


def is_remote(url: str) -> bool:
    return url.strip().lower().startswith(REMOTE_PREFIXES)


def _no_widget_scripts(app: Any, config: Any) -> None:
    config.nb_ipywidgets_js = {}


def _drop_remote_assets(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not is_remote(str(getattr(asset, "filename", asset)))]


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _no_widget_scripts, priority=900)
    app.connect("html-page-context", _drop_remote_assets, priority=1000)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
