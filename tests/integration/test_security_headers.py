"""Security headers on every response (issue 17, item 8).

Reproduction: no CSP, ``X-Content-Type-Options``, ``X-Frame-Options`` or ``Referrer-Policy``
on the portal, the invoice HTML or ``/docs``; ``/docs`` loaded Swagger UI from a CDN.
The browser side (pages work under their policy) is tests/e2e/test_security_browser.py.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import TEST_KEY

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def check_common(headers: object, path: str) -> str:
    for name, value in COMMON.items():
        assert headers[name] == value, (path, name)  # type: ignore[index]
    csp: str = headers["content-security-policy"]  # type: ignore[index]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp, path
    return csp


def test_every_kind_of_response_has_the_headers(client: TestClient) -> None:
    paths = ["/healthz", "/v1/customers", "/openapi.json", "/portal/login", "/docs", "/nope"]
    for path in paths:
        check_common(client.get(path).headers, path)
    unauthorized = client.get("/v1/customers", headers={"Authorization": ""})
    assert unauthorized.status_code == 401
    check_common(unauthorized.headers, "401")
    too_big = client.post("/v1/events", content=b"[" + b" " * (17 * 1024 * 1024) + b"]")
    assert too_big.status_code == 413
    check_common(too_big.headers, "413")


def test_portal_pages_allow_only_their_own_stylesheet_and_scripts(client: TestClient) -> None:
    with TestClient(client.app) as browser:
        browser.post("/portal/login", data={"api_key": TEST_KEY})
        for path in ("/portal", "/portal/login", "/portal/customers/nobody"):
            response = browser.get(path)
            csp = check_common(response.headers, path)
            assert "style-src 'self'" in csp and "script-src 'self';" in csp, path
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
            # Scripts only by src (charts); JSON data islands are data, never run.
            for tag in re.findall(r"<script[^>]*>", response.text):
                assert ' src="/' in tag or 'type="application/json"' in tag, (path, tag)
            assert ' style="' not in response.text, path


def test_docs_are_served_from_a_package_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    csp = check_common(page.headers, "/docs")
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "<script>" not in page.text  # no inline code: every script has a src
    for src in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text):
        asset = client.get(src)
        assert asset.status_code == 200 and len(asset.content) > 0, src
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content
    assert client.get("/docs/assets/../../app.py").status_code == 404
    assert client.get("/docs/assets/redoc.standalone.js").status_code == 404


def test_redoc_is_served_from_npm_not_a_cdn(client: TestClient) -> None:
    page = client.get("/redoc")
    assert page.status_code == 200, "run `npm ci`: the ReDoc bundle comes from node_modules"
    for name, value in COMMON.items():
        assert page.headers[name] == value, name
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp and "worker-src blob:" in csp and "eval" not in csp
    # styled-components injects <style>: inline styles only, never inline scripts
    assert "style-src 'self' 'unsafe-inline'" in csp and csp.count("unsafe-inline") == 1
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "<script>" not in page.text
    for src in re.findall(r'src="(/redoc/[^"]+)"', page.text):
        asset = client.get(src)
        assert asset.status_code == 200 and len(asset.content) > 0, src
    assert b"Redoc" in client.get("/redoc/redoc.standalone.js").content
    assert client.get("/redoc/..%2F..%2Fapp.py").status_code == 404
    assert client.get("/redoc/htmx.min.js").status_code == 404
