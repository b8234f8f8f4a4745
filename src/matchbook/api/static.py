"""The web UI's built files at ``/``, beside the API.

``mount(app)`` makes the router's fallback (what answers when no route matches) serve
the built UI for ``GET``/``HEAD`` outside ``/api``, ``/ws``, ``/docs``, ``/redoc``,
``/openapi.json`` and ``/metrics``: a file of the build when one has that path, else
``index.html`` (the UI routes on the client). No route is added, so the API's own
answers are untouched: an unknown ``/api`` path still gets the JSON 404.

Cache headers: files under ``assets/`` carry a content hash in their name and never
change (``immutable``, one year); everything else, ``index.html`` first, is revalidated
on every load (``no-cache``; Starlette's ETag and Last-Modified make that a 304).

The directory is ``MATCHBOOK_WEB_DIR`` when set, else ``web/dist`` of the source tree.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
RESERVED = ("/api", "/ws", "/docs", "/redoc", "/openapi.json", "/metrics")

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Matchbook</title></head><body style="font-family:sans-serif;background:#0b0e11;
color:#e6e8ea;padding:2rem"><h1>Matchbook</h1><p>The web UI is not built. Run
<code>make run</code> (it builds it), or
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.
The API is at <a href="/docs" style="color:#7cb7ff">/docs</a>.</p></body></html>
"""


def web_dir() -> Path:
    """Where the built UI is: ``MATCHBOOK_WEB_DIR``, else ``<source tree>/web/dist``."""
    configured = os.environ.get("MATCHBOOK_WEB_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "web" / "dist"


def reserved(path: str) -> bool:
    """True for the paths that belong to the API, never to the UI."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED)


class WebUI:
    """The router's fallback: the UI's files, ``index.html`` for client-side routes,
    and ``fallback`` (the JSON 404) for everything else."""

    def __init__(self, directory: Path, fallback: ASGIApp) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, check_dir=False)
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in ("GET", "HEAD")
                or reserved(scope["path"])):
            await self.fallback(scope, receive, send)
            return
        response = await self.response(scope)
        if response is None:
            await self.fallback(scope, receive, send)
            return
        await response(scope, receive, send)

    async def response(self, scope: Scope) -> Response | None:
        index = self.directory / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": REVALIDATE})
        relative = scope["path"].lstrip("/")
        if relative and relative != "index.html":
            try:
                found = await self.files.get_response(relative, scope)
            except HTTPException:
                found = None
            if found is not None and found.status_code in (200, 304):
                found.headers["Cache-Control"] = (IMMUTABLE if relative.startswith("assets/")
                                                  else REVALIDATE)
                return found
            if "." in relative.rsplit("/", 1)[-1]:
                return None  # a missing file (an old asset, a typo): 404, never the page
        return FileResponse(index, headers={"Cache-Control": REVALIDATE},
                            media_type="text/html")


def mount(app: FastAPI) -> None:
    """Serve the built UI from the router's fallback (after every route)."""
    app.router.default = WebUI(web_dir(), app.router.default)
