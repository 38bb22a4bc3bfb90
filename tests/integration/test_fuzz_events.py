"""Fuzz the event endpoints from their OpenAPI description: no input may cause a 5xx.

Schemathesis generates bodies and parameters from ``/openapi.json`` (the ingest bodies are
documented through ``openapi_extra``), both conforming and, for the ingest endpoints,
deliberately malformed ones; every response must be below 500. Bounded: 50 examples per
operation and store.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as cu
from schemathesis.checks import not_a_server_error
from schemathesis.serializers import OctetStreamSerializer
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

from tallybook.bootstrap import Container
from tests.conftest import TEST_KEY

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


def _hypothesis_jsonschema_compat() -> None:
    """hypothesis-jsonschema 0.23 drives ``many`` through ``more()``, which newer Hypothesis
    (6.1xx) replaced by iteration; give ``many`` the old method back, without spans."""
    many: Any = cu.many
    if hasattr(many, "more"):
        return

    def more(self: Any) -> bool:
        if self._in_element:  # close the previous element's span
            self.data.stop_span(discard=self._rejected)
            self._in_element = False
        if not self._decide():  # opens a span; closes it when stopping
            return False
        self.count += 1
        self._in_element, self._rejected = True, False
        return True

    many.more = more


_hypothesis_jsonschema_compat()
schemathesis.experimental.OPEN_API_3_1.enable()  # FastAPI publishes OpenAPI 3.1
# ``PUT /v1/tenant/logo`` takes raw image bytes: send generated data as bytes, as for
# ``application/octet-stream`` (the route must refuse what is not an image with a 4xx)
schemathesis.serializer("image/png", aliases=["image/jpeg"])(OctetStreamSerializer)


@pytest.fixture
def events_api(client: TestClient, container: Container) -> BaseOpenAPISchema:
    schema: BaseOpenAPISchema = schemathesis.from_asgi("/openapi.json", client.app)
    return schema


schema = schemathesis.from_pytest_fixture(
    "events_api",
    endpoint=r"^/(v1|api/v1)/events",
    data_generation_methods=[
        schemathesis.DataGenerationMethod.positive,
        schemathesis.DataGenerationMethod.negative,
    ],
)


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_event_endpoints_never_answer_5xx(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=(not_a_server_error,))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ("id", "customer", "type", "timestamp", "properties", "source", "subject", "time", "data")
EVENTISH = st.fixed_dictionaries(
    {},
    optional={key: JSON | st.text() for key in FIELDS},
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=st.one_of(JSON, EVENTISH, st.lists(EVENTISH, max_size=5)))
def test_arbitrary_json_never_answers_5xx(client: TestClient, body: Any) -> None:
    """Any JSON document, shaped like events or not, to ingestion and to a replay."""
    content = orjson.dumps(body)
    for path, content_type in (
        ("/v1/events", "application/json"),
        ("/api/v1/events", "application/cloudevents-batch+json"),
        ("/api/v1/events", "application/json"),
    ):
        response = client.post(path, content=content, headers={"content-type": content_type})
        assert response.status_code < 500, response.text
    letters = client.get("/v1/events/rejected", params={"status": "open", "limit": 1}).json()
    for letter in letters["data"]:
        response = client.post(
            f"/v1/events/rejected/{letter['id']}/replay",
            content=content,
            headers={"content-type": "application/json"},
        )
        assert response.status_code < 500, response.text
