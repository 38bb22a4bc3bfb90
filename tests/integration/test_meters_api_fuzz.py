"""Fuzz the catalog, meter and usage endpoints from their OpenAPI description: no 5xx.

Bounded: 40 examples per operation and store, conforming and malformed parameters.
"""

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

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
CATALOG = {
    "meters": [
        {"key": "tokens", "event_type": "llm", "aggregation": "sum", "value": "usage.tokens",
         "group_by": ["model"]},
        {"key": "gb", "event_type": "disk", "aggregation": "time_weighted_average", "value": "gb"},
    ],
    "plans": [
        {"key": "growth", "currency": "USD", "interval": "month", "charges": [
            {"key": "t", "type": "usage", "meter": "tokens", "model": "per_unit", "unit_amount": "1"}
        ]}
    ],
}  # fmt: skip


@pytest.fixture
def catalog_api(client: TestClient, container: Container) -> BaseOpenAPISchema:
    container.catalog.apply("default", CATALOG)
    schema: BaseOpenAPISchema = schemathesis.from_asgi("/openapi.json", client.app)
    return schema


schema = schemathesis.from_pytest_fixture(
    "catalog_api",
    endpoint=r"^/(v1/catalog|v1/meters|v1/plans|api/v1/meters)",
    data_generation_methods=[
        schemathesis.DataGenerationMethod.positive,
        schemathesis.DataGenerationMethod.negative,
    ],
)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_catalog_and_usage_endpoints_never_answer_5xx(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=(not_a_server_error,))
