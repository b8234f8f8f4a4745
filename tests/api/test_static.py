"""The built web UI at ``/``: files with cache headers, ``index.html`` for client-side
routes, and the API's JSON 404 for unknown API paths, through a real FastAPI app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from matchbook.api import static
from matchbook.api.errors import install


def _app(web: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("MATCHBOOK_WEB_DIR", str(web))
    app = FastAPI()
    install(app)

    @app.get("/api/v1/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    static.mount(app)
    return app


def _get(app: FastAPI, path: str, method: str = "GET", **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
            return await client.request(method, path, headers=headers)
    return asyncio.run(go())


@pytest.fixture
def web(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Matchbook</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def test_index_is_served_at_the_root_and_revalidated(web: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    response = _get(_app(web, monkeypatch), "/")
    assert response.status_code == 200
    assert "<title>Matchbook</title>" in response.text
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-type"].startswith("text/html")


def test_hashed_assets_are_immutable_and_other_files_revalidated(
        web: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(web, monkeypatch)
    asset = _get(app, "/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.text == "console.log(1)"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    icon = _get(app, "/favicon.svg")
    assert icon.status_code == 200 and icon.headers["cache-control"] == "no-cache"
    again = _get(app, "/assets/index-abc123.js", **{"if-none-match": asset.headers["etag"]})
    assert again.status_code == 304


def test_client_side_routes_fall_back_to_the_index(web: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(web, monkeypatch)
    for path in ("/trade/BTC-USD", "/wallet", "/admin/users"):
        response = _get(app, path)
        assert response.status_code == 200, path
        assert "<title>Matchbook</title>" in response.text
        assert response.headers["cache-control"] == "no-cache"


def test_api_paths_keep_their_json_answers(web: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(web, monkeypatch)
    assert _get(app, "/api/v1/ping").json() == {"pong": "yes"}
    for path, method in (("/api/v1/nope", "GET"), ("/api/nope", "POST"), ("/ws/nope", "GET"),
                         ("/metrics/x", "GET")):
        response = _get(app, path, method)
        assert response.status_code == 404, path
        assert response.json() == {"code": 6002, "message": "Not Found"}


def test_a_missing_file_is_a_404_not_the_page(web: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    response = _get(_app(web, monkeypatch), "/assets/index-old999.js")
    assert response.status_code == 404
    assert response.json()["code"] == 6002


def test_a_path_cannot_leave_the_build_directory(web: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (web.parent / "secret.txt").write_text("secret")
    response = _get(_app(web, monkeypatch), "/../secret.txt")
    assert "secret" not in response.text


def test_without_a_build_the_root_says_how_to_build(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(tmp_path / "absent", monkeypatch)
    response = _get(app, "/")
    assert response.status_code == 503
    assert "npm run build" in response.text
    assert _get(app, "/api/v1/nope").json()["code"] == 6002
