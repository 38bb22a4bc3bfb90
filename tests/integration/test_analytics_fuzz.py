"""Fuzz the analytics, backtest and experiment endpoints from their OpenAPI description:
no 5xx. Bounded: 15 examples per operation and store, conforming and malformed input.
Backtests started by the fuzzer run in the background; a failed job is a status, not a
5xx."""

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
from tests.integration.test_usage_percentiles_api import CATALOG

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture
def analytics_api(client: TestClient, container: Container) -> BaseOpenAPISchema:
    container.catalog.apply("default", CATALOG)
    schema: BaseOpenAPISchema = schemathesis.from_asgi("/openapi.json", client.app)
    return schema


schema = schemathesis.from_pytest_fixture(
    "analytics_api",
    endpoint=r"^/v1/(analytics|backtests|experiments)",
    data_generation_methods=[
        schemathesis.DataGenerationMethod.positive,
        schemathesis.DataGenerationMethod.negative,
    ],
)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_analytics_endpoints_never_answer_5xx(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=(not_a_server_error,))
