"""Schemathesis over the entitlement, spend-limit and portal-link endpoints: whatever a
client sends (positive and negative data, both stores), the answer is never a 5xx.

The customer ``c1`` exists with a subscription and usage, so generated requests reach the
services rather than stopping at ``customer_not_found``: fixed path values are used half
the time (``c1``, ``calls``), generated ones otherwise.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

from tests.conftest import TEST_KEY
from tests.integration import test_entitlements_api as scenario
from tests.integration import test_fuzz_events  # noqa: F401  (enables OpenAPI 3.1 + compat)
from tests.integration import test_previews as shared

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
clock, app_container, api = shared.clock, shared.app_container, shared.api


@pytest.fixture
def entitlements_api(api: TestClient) -> BaseOpenAPISchema:
    scenario.setup(api)
    schema: BaseOpenAPISchema = schemathesis.from_asgi("/openapi.json", api.app)
    return schema


schema = schemathesis.from_pytest_fixture(
    "entitlements_api",
    endpoint=r"^/v1/customers/\{customer_id\}/(entitlements|spend-limit|portal-sessions)",
    data_generation_methods=[
        schemathesis.DataGenerationMethod.positive,
        schemathesis.DataGenerationMethod.negative,
    ],
)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_entitlement_endpoints_never_answer_5xx(case: Any) -> None:
    if case.path_parameters and zlib.crc32(repr(case.body).encode()) % 2 == 0:
        case.path_parameters["customer_id"] = "c1"
        if "feature" in case.path_parameters:
            case.path_parameters["feature"] = "calls"
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=(not_a_server_error,))
