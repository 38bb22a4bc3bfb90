"""Fuzz the customer, subscription, invoice and billing-run endpoints from their OpenAPI
description: no input may cause a 5xx. A catalog, customers, a subscription and invoices
exist first, so generated requests reach the services, not only the validators."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

from tallybook.bootstrap import Container
from tests.conftest import TEST_KEY
from tests.integration import test_fuzz_events  # noqa: F401  (schemathesis compatibility shim)
from tests.integration.test_customers_api import CATALOG

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture
def billing_api(client: TestClient, container: Container) -> BaseOpenAPISchema:
    client.put("/v1/catalog", json=CATALOG)
    for customer in ("acme", "string"):
        client.post("/v1/customers", json={"id": customer, "currency": "USD"})
    client.post(
        "/v1/subscriptions",
        json={"customer": "acme", "plan": "monthly", "start": "2026-01-01T00:00:00Z"},
    )
    client.post("/v1/billing-runs", json={"as_of": "2026-03-01T00:00:00Z"})
    schema: BaseOpenAPISchema = schemathesis.from_asgi("/openapi.json", client.app)
    return schema


schema = schemathesis.from_pytest_fixture(
    "billing_api",
    endpoint=r"^/v1/(customers|subscriptions|invoices|billing-runs|tenant|keys)",
    data_generation_methods=[
        schemathesis.DataGenerationMethod.positive,
        schemathesis.DataGenerationMethod.negative,
    ],
)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_billing_endpoints_never_answer_5xx(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=(not_a_server_error,))
