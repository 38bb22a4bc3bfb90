"""Odd ids and locales never make the previews, documents or portal answer 5xx."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TEST_KEY

TEXT = st.text(min_size=1, max_size=40) | st.sampled_from(
    ["..", "%2F", "a/b", " ", "INV-1", "inv_"]
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(reference=TEXT, locale=st.none() | TEXT)
def test_odd_references_and_locales_are_4xx_at_worst(
    client: TestClient, reference: str, locale: str | None
) -> None:
    ref = quote(reference, safe="")
    params = {} if locale is None else {"locale": locale}
    for path in (
        f"/v1/customers/{ref}/upcoming-invoice",
        f"/v1/customers/{ref}/usage",
        f"/v1/invoices/{ref}.html",
        f"/v1/invoices/{ref}.pdf",
    ):
        response = client.get(path, params=params)
        assert response.status_code < 500, (path, response.text)
    login = client.post("/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False)
    assert login.status_code == 303
    try:
        for path in (f"/portal/customers/{ref}", f"/portal/customers/{ref}/upcoming", "/portal"):
            response = client.get(path, params={"after": reference})
            assert response.status_code < 500, (path, response.text)
    finally:
        client.cookies.clear()
