"""The interactive API page runs the vendored, pinned Swagger UI from this origin, under a
Content-Security-Policy that allows no inline script and nothing from another origin."""

from __future__ import annotations

import hashlib
import re

from cargohold.web.api.app import STATIC, SWAGGER_UI_VERSION
from tests.functional.api.people import Api

VENDORED = STATIC / "swagger-ui"


async def test_the_docs_page_loads_only_this_origins_files(api: Api) -> None:
    response = await api.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text.replace('href="data:,"', ""))
    assert sources and all(s.startswith("/api/v1/static/") for s in sources), sources
    assert "://" not in response.text


async def test_the_docs_page_has_no_inline_script_and_a_csp_that_forbids_one(api: Api) -> None:
    response = await api.get("/docs")

    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp
    assert re.findall(r"<script[^>]*>([^<]*)</script>", response.text) == ["", ""]
    assert 'data-openapi="/api/v1/openapi.json"' in response.text


async def test_the_page_s_files_are_served_as_vendored(api: Api) -> None:
    response = await api.get("/docs")
    sources = re.findall(r'(?:src|href)="/api/v1([^"?]+)', response.text)
    assert len(sources) == 3  # the stylesheet, the bundle and docs.js
    for source in sources:
        served = await api.get(source)
        assert served.status_code == 200, source
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.content == (STATIC / source.removeprefix("/static/")).read_bytes()


def test_the_vendored_swagger_ui_is_the_pinned_version_with_its_license() -> None:
    readme = (VENDORED / "README.md").read_text()

    assert f"**{SWAGGER_UI_VERSION}**" in readme
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((VENDORED / name).read_bytes()).hexdigest()
        assert f"`{name}` {digest}" in readme, name
    assert "Apache License" in (VENDORED / "LICENSE").read_text()
