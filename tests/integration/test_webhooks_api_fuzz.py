"""Schemathesis over the webhook endpoints and messages API: whatever a client sends,
the answer is never a 5xx (positive and negative data generation, both stores)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

from tests.conftest import TEST_KEY
from tests.integration import test_fuzz_events  # noqa: F401  (enables OpenAPI 3.1 + compat)

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture
def webhooks_api(client: TestClient) -> BaseOpenAPISchema:
    created = client.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h", "id": "e1"})
    assert created.status_code == 201
    schema: BaseOpenAPISchema = schemathesis.from_asgi("/openapi.json", client.app)
    return schema


schema = schemathesis.from_pytest_fixture(
    "webhooks_api",
    endpoint=r"^/v1/webhook-",
    data_generation_methods=[
        schemathesis.DataGenerationMethod.positive,
        schemathesis.DataGenerationMethod.negative,
    ],
)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_webhook_endpoints_never_answer_5xx(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=(not_a_server_error,))
