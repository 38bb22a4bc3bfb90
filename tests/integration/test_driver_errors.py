"""Values the database refuses are a coded 4xx at the store edge, never a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_nul_in_path_ids_is_a_client_error(client: TestClient) -> None:
    for path in ("/v1/customers/a%00b", "/v1/invoices/a%00b", "/v1/subscriptions/a%00b"):
        response = client.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        assert response.json()["error"]["code"]
