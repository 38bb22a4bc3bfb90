"""The real openmeter SDK reads usage through ``/api/v1/meters/{slug}/query``.

Kept with the e2e tests so openmeter is imported only in the last phase of the suite
(see tests/e2e/test_openmeter_sdk.py for why it must not be imported at collection).
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_KEY
from tests.integration.test_meters_api import loaded, ts  # noqa: F401  (fixture)


def test_the_openmeter_sdk_reads_usage(loaded: TestClient) -> None:  # noqa: F811
    from corehttp.exceptions import HttpResponseError
    from corehttp.transport.httpx import HttpXTransport
    from openmeter import Client as OpenMeterClient

    # The SDK's httpx transport over the app in process (TestClient's own ASGI transport;
    # a plain httpx.Client because TestClient warns about per-request timeouts).
    in_process = httpx.Client(transport=loaded._transport, base_url="http://testserver")
    transport = HttpXTransport(client=in_process, client_owner=False)
    sdk = OpenMeterClient(endpoint="http://testserver", token=TEST_KEY, transport=transport)
    result = sdk.meters.query_json(
        "tokens",
        from_parameter=ts("2026-01-01T00:00:00Z"),
        to=ts("2026-01-03T00:00:00Z"),
        window_size="DAY",
        window_time_zone="UTC",
        subject=["acme", "bolt"],
        filter_group_by={"model": "a"},
    )
    rows = sorted((r.subject, r.window_start.day, r.value) for r in result.data)
    assert rows == [("acme", 1, 0.1), ("acme", 2, 3), ("bolt", 1, 5)]
    assert result.window_size == "DAY"
    with pytest.raises(HttpResponseError):
        sdk.meters.query_json("ghost")
