"""Fuzz the governance endpoints (catalog changes, rollbacks, migrations, overrides, audit)
from their OpenAPI description: no 5xx. Bounded: 10 examples per operation and store,
conforming and malformed input, on a tenant with a plan, a subscriber and a pending
change."""

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
from tests.integration import test_fuzz_events  # noqa: F401  (enables OpenAPI 3.1 + compat)
from tests.integration.test_governance_api import CATALOG, _customer, _plan

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture
def governance_api(client: TestClient, container: Container) -> BaseOpenAPISchema:
    container.catalog.apply("default", CATALOG)
    _customer(client, "acme")
    client.post(
        "/v1/catalog/changes",
        json={"document": _plan("150.00", "0.20"), "effective_at": "2026-03-15T00:00:00Z"},
    )
    schema: BaseOpenAPISchema = schemathesis.from_asgi("/openapi.json", client.app)
    return schema


schema = schemathesis.from_pytest_fixture(
    "governance_api",
    endpoint=r"^/v1/(catalog/changes|plans/\{key\}/(rollback|migrations)|audit|"
    r"subscriptions/\{subscription_id\}/overrides|customers/\{customer_id\}/overrides|tenant)",
    data_generation_methods=[
        schemathesis.DataGenerationMethod.positive,
        schemathesis.DataGenerationMethod.negative,
    ],
)


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_governance_endpoints_never_answer_5xx(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=(not_a_server_error,))
