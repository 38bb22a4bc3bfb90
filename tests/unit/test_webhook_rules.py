"""The pure webhook rules: retry schedule, Retry-After, outcomes, filters, URLs, secrets,
and the signed request checked against the ``standardwebhooks`` verifier."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tallybook.adapters.webhooks import signed_request
from tallybook.domain.errors import ValidationError
from tallybook.domain.webhooks import (
    MAX_ATTEMPTS,
    Claimed,
    MessageStatus,
    check_filters,
    check_url,
    decide,
    generate_secret,
    matches,
    next_attempt_delay,
    parse_retry_after,
    signing_secrets,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def claimed(failures: int = 0, secrets: tuple[str, ...] = ("whsec_" + "A" * 44,)) -> Claimed:
    return Claimed(
        tenant_id="t",
        message_id="msg_1",
        endpoint_id="we_1",
        url="http://127.0.0.1:9/",
        secrets=secrets,
        type="invoice.paid",
        occurred_at=NOW,
        sequence=3,
        data={"invoice": "inv_1", "total": "10.00"},
        attempt=failures + 1,
        failures=failures,
        token="tok",
    )


def test_the_contract_schedule() -> None:
    delays = [next_attempt_delay(n) for n in range(1, MAX_ATTEMPTS)]
    assert [d.total_seconds() if d else None for d in delays] == [
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        50400,
        72000,
        86400,
    ]
    assert next_attempt_delay(MAX_ATTEMPTS) is None
    assert next_attempt_delay(1, scale=0.001) == timedelta(milliseconds=5)
    assert next_attempt_delay(1, retry_after=timedelta(minutes=7)) == timedelta(minutes=7)
    assert next_attempt_delay(1, retry_after=timedelta(days=9)) == timedelta(hours=24)
    with pytest.raises(ValueError):
        next_attempt_delay(0)


def test_retry_after_seconds_or_http_date() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after(" 3 ", NOW) == timedelta(seconds=3)
    assert parse_retry_after("Sun, 01 Mar 2026 00:01:00 GMT", NOW) == timedelta(minutes=1)
    assert parse_retry_after("Sat, 28 Feb 2026 00:00:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("-5", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_outcomes() -> None:
    common = {"error": None, "retry_after": None, "started_at": NOW, "duration_ms": 3, "now": NOW}
    ok = decide(claimed(), status_code=204, **common)  # type: ignore[arg-type]
    assert ok.status is MessageStatus.DELIVERED and ok.next_attempt_at is None
    bad = decide(claimed(), status_code=500, **common)  # type: ignore[arg-type]
    assert bad.status is MessageStatus.PENDING
    assert bad.next_attempt_at == NOW + timedelta(seconds=5)
    redirect = decide(claimed(), status_code=302, **common)  # type: ignore[arg-type]
    assert redirect.status is MessageStatus.PENDING
    gone = decide(claimed(), status_code=410, **common)  # type: ignore[arg-type]
    assert gone.disable_endpoint and gone.status is MessageStatus.PENDING
    timeout = decide(claimed(), status_code=None, **{**common, "error": "timeout"})  # type: ignore[arg-type]
    assert timeout.status is MessageStatus.PENDING
    last = decide(claimed(failures=9), status_code=500, **common)  # type: ignore[arg-type]
    assert last.status is MessageStatus.FAILED and last.next_attempt_at is None


def test_filters() -> None:
    assert check_filters(["*"]) == ("*",)
    assert check_filters(["invoice.paid", "invoice.paid"]) == ("invoice.paid",)
    assert matches(("*",), "invoice.paid") and matches(("invoice.paid",), "invoice.paid")
    assert not matches(("invoice.voided",), "invoice.paid")
    for bad in ([], ["invoice.*"], ["*", "invoice.paid"], ["x"] * 51):
        with pytest.raises(ValidationError):
            check_filters(bad)


def test_urls() -> None:
    own = [("127.0.0.1", 8080)]
    assert check_url("https://hooks.example.com/x?y=1", own)
    assert check_url("http://127.0.0.1:8081/", own)  # another local port
    assert check_url("http://192.168.1.5:8080/", own)  # a private host on that port
    for url in (
        "http://127.0.0.1:8080/",
        "http://localhost:8080/x",
        "http://127.0.0.2:8080/",
        "http://0.0.0.0:8080/",
    ):
        with pytest.raises(ValidationError):
            check_url(url, own)
    with pytest.raises(ValidationError):
        check_url("http://127.0.0.1/", [("0.0.0.0", 80)])  # bound everywhere: loopback too
    assert check_url("http://10.0.0.7/", [("0.0.0.0", 80)])  # not this machine
    with pytest.raises(ValidationError):
        check_url("https://example.com/" + "a" * 2048)


def test_secrets_and_rotation_window() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    assert generate_secret() != secret
    until = NOW + timedelta(hours=24)
    assert signing_secrets("new", "old", until, NOW) == ("new", "old")
    assert signing_secrets("new", "old", until, until) == ("new",)
    assert signing_secrets("new", None, None, NOW) == ("new",)


def test_signed_request_verifies_with_standardwebhooks() -> None:
    old, new = generate_secret(), generate_secret()
    now = datetime.now(UTC)
    body, headers = signed_request(claimed(secrets=(new, old)), now)
    for secret in (old, new):
        payload = Webhook(secret).verify(body, headers)
        assert payload == {
            "id": "msg_1",
            "type": "invoice.paid",
            "occurred_at": "2026-03-01T00:00:00Z",
            "sequence": 3,
            "data": {"invoice": "inv_1", "total": "10.00"},
        }
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace(b"10.00", b"99.00"), headers)
    assert new not in repr(claimed(secrets=(new,)))


def test_the_stdlib_verifier_in_the_docs_works() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    snippet = next(code for code in re.findall(r"```python\n(.*?)```", doc, re.S) if "hmac" in code)
    namespace: dict[str, object] = {}
    exec(snippet, namespace)
    verify = namespace["verify"]
    old, new = generate_secret(), generate_secret()
    body, headers = signed_request(claimed(secrets=(new, old)), datetime.now(UTC))
    assert verify(old, body, headers) and verify(new, body, headers)  # type: ignore[operator]
    assert not verify(generate_secret(), body, headers)  # type: ignore[operator]
    assert not verify(new, body + b" ", headers)  # type: ignore[operator]
