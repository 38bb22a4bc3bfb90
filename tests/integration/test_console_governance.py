"""The console's governance pages over HTTP (ASGI client) on both stores: the catalog
with versions, the change editor (located errors, diff, checks, impact), the approvals
queue (confirmation, CSRF, the author's own approval refused), rollback from the version
history, and the audit log (filters, pages, CSV, verify naming a tampered entry).

The browser flow is in ``tests/e2e/test_console_governance_browser.py``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tallybook.bootstrap import Container
from tests.catalogs import GROWTH as CATALOG

EFFECTIVE = "2026-03-15T00:00:00Z"


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


@contextmanager
def logged_in(client: TestClient, key: str) -> Iterator[TestClient]:
    """A console browser session of ``key``."""
    with TestClient(client.app) as session:
        answer = session.post("/console/login", data={"api_key": key}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        yield session


def _key(client: TestClient, name: str, *roles: str) -> str:
    answer = client.post("/v1/keys", json={"name": name, "roles": list(roles)})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def _last_month_day(container: Container) -> str:
    """The 10th of the last closed calendar month, noon UTC (the impact re-rates it)."""
    now = container.clock.now()
    year, month = (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)
    return datetime(year, month, 10, 12, tzinfo=UTC).isoformat()


@pytest.fixture
def keys(client: TestClient, container: Container) -> dict[str, str]:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    assert client.post("/v1/customers", json={"id": "acme", "currency": "USD"}).is_success
    sub = {"customer": "acme", "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201
    day = _last_month_day(container)
    events = [
        {"id": f"e{i}", "customer": "acme", "type": "api_call", "timestamp": day} for i in range(50)
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == 50
    return {
        "editor": _key(client, "alice", "pricing_editor"),
        "approver": _key(client, "bob", "pricing_approver"),
        "both": _key(client, "dana", "pricing_editor", "pricing_approver"),
        "viewer": _key(client, "vic", "viewer"),
    }


def _yaml(unit: str) -> str:
    return (
        "plans:\n- key: growth\n  name: Growth\n  currency: USD\n  interval: month\n"
        "  billing_anchor: calendar\n  charges:\n"
        "  - {key: platform, type: flat, amount: '100.00', timing: in_arrears}\n"
        f"  - {{key: api, type: usage, meter: api_calls, model: per_unit, unit_amount: '{unit}'}}\n"
    )


def _draft(token: str, unit: str, **extra: str) -> dict[str, str]:
    return {
        "csrf": token,
        "document": _yaml(unit),
        "effective_at": EFFECTIVE,
        "timing": "next_period",
        "existing": "migrate",
        "reason": "costs up",
        **extra,
    }


def _propose(session: TestClient, unit: str = "0.12") -> str:
    page = session.get("/console/catalog/changes/new", params={"plan": "growth"})
    answer = session.post(
        "/console/catalog/changes", data=_draft(csrf_of(page.text), unit), follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/console/approvals/(chg_[^?]+)\?proposed=1", answer.headers["location"])
    assert found is not None, answer.headers["location"]
    return found.group(1)


def test_catalog_lists_plans_meters_and_the_version_history(
    client: TestClient, keys: dict[str, str]
) -> None:
    with logged_in(client, keys["viewer"]) as session:
        page = session.get("/console/catalog")
        assert page.status_code == 200
        assert "/console/catalog/plans/growth" in page.text and "api_calls" in page.text
        assert "Propose a change" not in page.text  # a viewer proposes nothing
        detail = session.get("/console/catalog/plans/growth")
        assert detail.status_code == 200 and "Version 1" in detail.text
        assert "Roll back" not in detail.text
        assert session.get("/console/catalog/plans/nope").status_code == 404
        assert (
            session.get("/console/catalog/plans/growth", params={"version": 9}).status_code == 404
        )
        assert (
            session.get("/console/catalog/plans/growth", params={"version": 0}).status_code == 422
        )
        assert session.get("/console/catalog", params={"bogus": 1}).status_code == 400


def test_the_editor_shows_located_errors_then_the_diff_checks_and_impact(
    client: TestClient, keys: dict[str, str]
) -> None:
    with logged_in(client, keys["editor"]) as session:
        # the common-edit form writes the YAML; a bad value is shown where it is
        bad = session.get(
            "/console/catalog/changes/new",
            params={"plan": "growth", "charge": "api", "field": "unit_amount", "value": "-1"},
        )
        assert bad.status_code == 200
        assert "plans[0].charges[1].unit_amount" in bad.text
        good = session.get(
            "/console/catalog/changes/new",
            params={"plan": "growth", "charge": "api", "field": "unit_amount", "value": "0.12"},
        )
        assert "unit_amount: &#39;0.12&#39;" in good.text or "unit_amount: '0.12'" in good.text
        assert 'id="diff"' in good.text and "0.10" in good.text
        token = csrf_of(good.text)
        hx = {"HX-Request": "true"}
        # validate as you type (htmx): the same located issues as PUT /v1/catalog
        answer = session.post(
            "/console/catalog/changes/validate", data=_draft(token, "0.1x"), headers=hx
        )
        assert answer.status_code == 200 and "<html" not in answer.text
        api = client.put(
            "/v1/catalog",
            content=_yaml("0.1x"),
            params={"dry_run": "true"},
            headers={"Content-Type": "application/yaml"},
        ).json()["error"]["details"]["issues"]
        for issue in api:
            assert html.escape(issue["location"]) in answer.text
        ok = session.post(
            "/console/catalog/changes/validate", data=_draft(token, "0.12"), headers=hx
        )
        assert 'id="validation-ok"' in ok.text and 'id="impact"' not in ok.text
        assert re.search(r"plans\[growth\]\.charges\[api\]\.unit_amount", ok.text)
        same = session.post(
            "/console/catalog/changes/validate", data=_draft(token, "0.10"), headers=hx
        )
        assert "change_empty" in same.text
        impact = session.post(
            "/console/catalog/changes/preview", data=_draft(token, "0.12"), headers=hx
        )
        assert 'id="impact"' in impact.text
        # last month's 50 calls re-rated: 50 x 0.02 more
        assert re.search(r"<strong>1\.00+</strong>", impact.text), impact.text
        nojs = session.post("/console/catalog/changes/preview", data=_draft(token, "0.1x"))
        assert nojs.status_code == 422 and "<html" in nojs.text
        forged = session.post("/console/catalog/changes", data=_draft("0" * 64, "0.12"))
        assert forged.status_code == 403
        bad_time = session.post(
            "/console/catalog/changes", data=_draft(token, "0.12", effective_at="soon")
        )
        assert bad_time.status_code == 422 and "RFC 3339" in bad_time.text
    assert client.get("/v1/catalog/changes").json()["data"] == []


def test_propose_then_another_key_approves_and_the_audit_log_shows_both(
    client: TestClient, keys: dict[str, str]
) -> None:
    with logged_in(client, keys["editor"]) as alice:
        change = _propose(alice)
        page = alice.get(f"/console/approvals/{change}?proposed=1")
        assert page.status_code == 200 and "pending_approval" in page.text
        assert "Approve</button>" not in page.text  # alice may not approve
        refused = alice.post(
            f"/console/approvals/{change}/approve", data={"csrf": csrf_of(page.text)}
        )
        assert refused.status_code == 403 and "Not allowed for your roles" in refused.text
    stored = client.get(f"/v1/catalog/changes/{change}").json()
    assert (stored["author"], stored["status"]) == ("alice", "pending_approval")
    with logged_in(client, keys["approver"]) as bob:
        queue = bob.get("/console/approvals")
        assert change in queue.text
        page = bob.get(f"/console/approvals/{change}")
        token = csrf_of(page.text)
        assert bob.post(f"/console/approvals/{change}/approve", data={}).status_code == 403
        asked = bob.post(f"/console/approvals/{change}/approve", data={"csrf": token})
        assert asked.status_code == 200 and "Confirm: Approve" in asked.text
        assert client.get(f"/v1/catalog/changes/{change}").json()["status"] == "pending_approval"
        done = bob.post(
            f"/console/approvals/{change}/approve",
            data={"csrf": token, "confirm": "yes", "reason": "ok with finance"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert client.get(f"/v1/catalog/changes/{change}").json()["status"] in (
            "approved",
            "active",
        )
        again = bob.post(
            f"/console/approvals/{change}/approve", data={"csrf": token, "confirm": "yes"}
        )
        assert again.status_code == 409 and "change_not_pending" in again.text
        log = bob.get("/console/audit", params={"object": f"catalog/changes/{change}"})
        rows = re.findall(r"<td>(alice|bob)</td><td><code>([^<]+)</code>", log.text)
        assert rows == [("alice", "console changes propose"), ("bob", "console changes approve")]
        verified = bob.get("/console/audit/verify")
        assert "The chain verifies" in verified.text
    entries = client.get("/v1/audit", params={"object": f"catalog/changes/{change}"}).json()
    assert [e["reason"] for e in entries["data"]] == ["costs up", "ok with finance"]


def test_the_authors_own_approval_is_refused_and_reject_needs_confirmation(
    client: TestClient, keys: dict[str, str]
) -> None:
    with logged_in(client, keys["both"]) as dana:
        change = _propose(dana)
        page = dana.get(f"/console/approvals/{change}")
        assert 'id="own-change"' in page.text
        # no Approve button for the author (it could only fail), Reject (withdraw) stays
        assert f'action="/console/approvals/{change}/approve"' not in page.text
        assert f'action="/console/approvals/{change}/reject"' in page.text
        token = csrf_of(page.text)
        own = dana.post(f"/console/approvals/{change}/approve", data={"csrf": token})
        assert own.status_code == 403 and "approval_self_forbidden" in own.text
        asked = dana.post(f"/console/approvals/{change}/reject", data={"csrf": token})
        assert "Confirm: Reject" in asked.text
        done = dana.post(
            f"/console/approvals/{change}/reject",
            data={"csrf": token, "confirm": "yes", "reason": "withdrawn"},
        )
        assert done.status_code == 200 and "rejected" in done.text
        rejected = dana.get("/console/approvals", params={"status": "rejected"})
        assert change in rejected.text
        assert change not in dana.get("/console/approvals").text
        assert dana.get("/console/approvals", params={"status": "lost"}).status_code == 422
        assert dana.get("/console/approvals/chg_nope").status_code == 404


def test_rollback_from_the_version_history_proposes_the_earlier_content(
    client: TestClient, keys: dict[str, str]
) -> None:
    with logged_in(client, keys["editor"]) as alice:
        change = _propose(alice)
    with logged_in(client, keys["approver"]) as bob:
        token = csrf_of(bob.get(f"/console/approvals/{change}").text)
        data = {"csrf": token, "confirm": "yes"}
        assert bob.post(f"/console/approvals/{change}/approve", data=data).status_code == 200
    with logged_in(client, keys["editor"]) as alice:
        history = alice.get("/console/catalog/plans/growth")
        assert "Version 2" in history.text
        assert "/console/catalog/plans/growth/rollback?version=1" in history.text
        form = alice.get("/console/catalog/plans/growth/rollback", params={"version": 1})
        assert form.status_code == 200
        token = csrf_of(form.text)
        body = {
            "csrf": token,
            "version": "1",
            "effective_at": EFFECTIVE,
            "timing": "next_period",
            "existing": "migrate",
            "reason": "undo",
        }
        bad = alice.post("/console/catalog/plans/growth/rollback", data={**body, "timing": "x"})
        assert bad.status_code == 422
        done = alice.post(
            "/console/catalog/plans/growth/rollback", data=body, follow_redirects=False
        )
        assert done.status_code == 303
        rollback = done.headers["location"].split("/")[-1].split("?")[0]
    stored = client.get(f"/v1/catalog/changes/{rollback}").json()
    assert stored["kind"] == "rollback" and stored["status"] == "pending_approval"
    changes = stored["diff"]["plans"][0]["changes"]
    assert [(c["path"], c["old"], c["new"]) for c in changes] == [
        ("charges[api].unit_amount", "0.12", "0.10")
    ]


def test_audit_filters_pages_csv_and_a_tampered_entry(
    client: TestClient, container: Container, keys: dict[str, str]
) -> None:
    for n in range(30):
        assert client.post("/v1/customers", json={"id": f"c{n:02d}", "currency": "USD"}).is_success
    with logged_in(client, keys["viewer"]) as vic:
        first = vic.get("/console/audit", params={"action": "post /V1/CUSTOMERS"})
        assert first.status_code == 200
        seqs = [int(s) for s in re.findall(r'<th scope="row" class="num">(\d+)</th>', first.text)]
        assert len(seqs) == 25 and seqs == sorted(seqs)
        next_url = re.search(r'href="(/console/audit\?[^"]*cursor=[^"]+)"', first.text)
        assert next_url is not None
        second = vic.get(html.unescape(next_url.group(1)))
        more = re.findall(r'<th scope="row" class="num">(\d+)</th>', second.text)
        assert len(more) == 31 - 25  # 30 customers + acme
        by_object = vic.get("/console/audit", params={"object": "customers/c07"})
        assert len(re.findall(r'<th scope="row" class="num">', by_object.text)) == 1
        none = vic.get("/console/audit", params={"actor": "nobody"})
        assert "No entries match" in none.text
        dated = vic.get("/console/audit", params={"from": "2000-01-01", "to": "2000-01-02"})
        assert "No entries match" in dated.text
        assert vic.get("/console/audit", params={"from": "yesterday"}).status_code == 422
        assert (
            vic.get("/console/audit", params={"from": "2026-02-01", "to": "2026-01-01"}).status_code
            == 422
        )
        csv = vic.get("/console/audit.csv", params={"action": "customers"})
        lines = csv.text.splitlines()
        assert lines[0].startswith("seq,at,actor,actor_key,action,object")
        assert len(lines) == 1 + 31
        assert "The chain verifies" in vic.get("/console/audit/verify").text
        with container.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE audit_log SET reason = 'forged' WHERE tenant_id = 'default' AND seq = 3"
                )
            )
        broken = vic.get("/console/audit/verify")
        assert "The chain is broken at entry 3 (hash_mismatch)" in broken.text


def test_a_tiers_edit_from_the_common_form_validates_and_shows_its_diff(
    client: TestClient, keys: dict[str, str]
) -> None:
    with logged_in(client, keys["editor"]) as alice:
        params = {
            "plan": "growth",
            "charge": "api",
            "field": "tiers",
            "value": "100 0.10\ninf 0.05",
        }
        page = alice.get("/console/catalog/changes/new", params=params)
        assert page.status_code == 200 and 'id="validation-ok"' in page.text
        assert "charges[api].model" in page.text and "graduated" in page.text
        assert "charges[api].tiers" in page.text
        unknown = alice.get("/console/catalog/changes/new", params={**params, "charge": "nope"})
        assert unknown.status_code == 422 and "no charge" in unknown.text
        missing = alice.get("/console/catalog/changes/new", params={"plan": "nope"})
        assert missing.status_code == 404


def test_preview_stores_nothing_and_matches_what_propose_stores(
    client: TestClient, container: Container, keys: dict[str, str]
) -> None:
    from tallybook.documents.catalog.loading import read_text
    from tallybook.domain.governance.changes import ChangeTiming, Existing
    from tallybook.domain.periods import parse_instant
    from tallybook.services.governance import Actor, Proposal

    proposal = Proposal(
        document=read_text(_yaml("0.12"), "doc"),
        effective_at=parse_instant(EFFECTIVE),
        timing=ChangeTiming.NEXT_PERIOD,
        existing=Existing.MIGRATE,
        reason="costs up",
    )
    governance = container.governance
    quick = governance.preview("default", proposal, with_impact=False)
    assert quick.impact is None
    full = governance.preview("default", proposal)
    assert client.get("/v1/catalog/changes").json()["data"] == []
    stored = governance.propose("default", Actor("key_a", "alice"), proposal).row
    assert (stored.diff, stored.checks) == (full.diff, full.checks)
    as_of = {"as_of": None}  # the instant each was computed
    assert stored.impact | as_of == (full.impact or {}) | as_of
    assert stored.document == full.document and quick.diff == full.diff


def test_other_console_actions_are_audited_once(client: TestClient, keys: dict[str, str]) -> None:
    billing = _key(client, "finn", "billing")
    with logged_in(client, billing) as finn:
        token = csrf_of(finn.get("/console/customers/acme").text)
        form = {"csrf": token, "amount": "5", "category": "promotional", "nonce": "n1"}
        for _ in range(2):  # a double submit: one grant, one entry
            done = finn.post(
                "/console/customers/acme/grant", data={**form, "confirm": "yes"},
                follow_redirects=False,
            )  # fmt: skip
            assert done.status_code == 303
    entries = client.get("/v1/audit", params={"actor": "finn"}).json()["data"]
    assert [(e["action"], e["object"].split("/")[0]) for e in entries] == [
        ("console credit-grants create", "credit-grants")
    ]
    assert entries[0]["after"] == {"customer": "acme", "amount": "5", "category": "promotional"}


def test_the_editor_opened_on_a_plan_shows_no_error_before_an_edit(
    client: TestClient, keys: dict[str, str]
) -> None:
    """Reproduction (trial of issue 14): "Propose a change to this plan" opened the editor
    with the published plan already assessed, so a new user saw ``change_empty: the
    document changes nothing`` before touching anything."""
    with logged_in(client, keys["editor"]) as session:
        page = session.get("/console/catalog/changes/new", params={"plan": "growth"})
        assert page.status_code == 200
        assert "key: growth" in page.text and 'id="q-charge"' in page.text
        assert "change_empty" not in page.text
        edited = session.get(
            "/console/catalog/changes/new",
            params={"plan": "growth", "charge": "api", "field": "unit_amount", "value": "0.10"},
        )
        assert "change_empty" in edited.text  # an edit to the same value still says so
