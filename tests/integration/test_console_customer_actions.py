"""The console's customer page on SQLite and PostgreSQL: alert rules and fired alerts,
entitlements, the spend limit (set soft/hard and remove, with confirmation) and the plan
change (preview of the upcoming invoice before and after, confirmation, double submit,
a change made elsewhere since the preview) -- each POST needing the CSRF token.

Seeded as ``test_entitlements_api``: customer ``c1`` on Growth (200.00 flat in arrears,
50,000 calls included, 0.003 each beyond) with 90,000 calls so far, clock 2026-01-16.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tests.conftest import TEST_KEY
from tests.integration import test_entitlements_api as seeded
from tests.integration.test_console import csrf_of

clock, app_container, api = seeded.clock, seeded.app_container, seeded.api
ok = seeded.ok

PAGE = "/console/customers/c1"


@pytest.fixture
def browser(api: TestClient) -> Iterator[TestClient]:
    """A logged-in console session (admin test key), the customer seeded."""
    seeded.setup(api)
    with TestClient(api.app) as session:
        login = session.post("/console/login", data={"api_key": TEST_KEY}, follow_redirects=False)
        assert login.status_code == 303, login.text
        yield session


def test_customer_page_shows_alerts_and_entitlements(
    api: TestClient, browser: TestClient, app_container: Container
) -> None:
    rule = {"id": "big-spend", "customer": "c1", "type": "spend_amount", "thresholds": ["100"]}
    ok(api.post("/v1/alerts", json=rule), 201)
    fired = app_container.alerts.evaluate("default", "c1")
    # with the default 80/100 % allowance alerts of the api charge (90,000 of 50,000)
    assert [f.alert for f in fired] == [
        "big-spend",
        "default:allowance:api",
        "default:allowance:api",
    ]
    page = browser.get(PAGE)
    assert page.status_code == 200
    rules = re.search(r'<ul class="plain" id="alert-rules">(.*?)</ul>', page.text, re.S)
    assert rules is not None
    assert "big-spend" in rules.group(1) and "this customer" in rules.group(1)
    assert "default:allowance:api" in rules.group(1) and "80, 100 %" in rules.group(1)
    fired_table = page.text[page.text.index('id="fired-alerts"') :]
    assert "big-spend" in fired_table.split("</table>")[0]
    table = page.text[page.text.index('id="entitlements"') :].split("</table>")[0]
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"<code>([a-z_]+)</code></th>(.*?)</tr>", table, re.S)
    }
    assert set(rows) == {"sso", "support", "calls", "exports"}
    assert "90000" in rows["calls"] and "100000" in rows["calls"] and "hard" in rows["calls"]
    assert "2026-02-01 00:00 UTC" in rows["calls"]  # reset_at: the period's end
    # exports: soft limit 1,000 already passed: allowed, with the reason shown
    assert "yes (limit reached)" in rows["exports"] and "soft" in rows["exports"]


def test_spend_limit_is_set_with_confirmation_and_blocks_when_hard(
    api: TestClient, browser: TestClient
) -> None:
    token = csrf_of(browser.get(PAGE).text)
    form = {"amount": "300.00", "mode": "hard"}
    assert browser.post(f"{PAGE}/spend-limit", data={**form, "confirm": "yes"}).status_code == 403
    asked = browser.post(f"{PAGE}/spend-limit", data={**form, "csrf": token})
    assert asked.status_code == 200 and "Confirm spend limit" in asked.text
    assert "metered features are refused" in asked.text
    assert api.get("/v1/customers/c1/spend-limit").status_code == 404  # nothing yet
    done = {**form, "csrf": token, "confirm": "yes"}
    for _ in range(2):  # a double submit stores the same limit
        answer = browser.post(f"{PAGE}/spend-limit", data=done, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"{PAGE}?spend=set"
    limit = ok(api.get("/v1/customers/c1/spend-limit"))
    # 200.00 fee + 40,000 calls over the allowance at 0.003 = 320.00 >= 300.00
    assert (limit["amount"], limit["mode"], limit["period_total"]) == ("300.00", "hard", "320.00")
    assert limit["blocking"] is True
    assert ok(api.get("/v1/customers/c1/entitlements/calls"))["reason"] == "spend_limit_reached"
    page = browser.get(PAGE, params={"spend": "set"})
    assert "Spend limit set." in page.text and "metered features blocked" in page.text
    soft = {"amount": "500", "mode": "soft", "csrf": token, "confirm": "yes"}
    assert browser.post(f"{PAGE}/spend-limit", data=soft, follow_redirects=False).status_code == 303
    assert ok(api.get("/v1/customers/c1/spend-limit"))["blocking"] is False
    bad = browser.post(f"{PAGE}/spend-limit", data={**soft, "mode": "firm"})
    assert bad.status_code == 422 and "mode must be one of soft, hard" in bad.text
    bad = browser.post(f"{PAGE}/spend-limit", data={**soft, "amount": "-1"})
    assert bad.status_code == 422
    remove = {"remove": "yes", "csrf": token}
    asked = browser.post(f"{PAGE}/spend-limit", data=remove)
    assert asked.status_code == 200 and "Remove the spend limit" in asked.text
    for _ in range(2):  # removing twice: the second finds none and changes nothing
        gone = browser.post(
            f"{PAGE}/spend-limit", data={**remove, "confirm": "yes"}, follow_redirects=False
        )
        assert gone.headers["location"] == f"{PAGE}?spend=removed"
    assert api.get("/v1/customers/c1/spend-limit").status_code == 404
    assert browser.get(PAGE, params={"spend": "lost"}).status_code == 422
    audit = ok(api.get("/v1/audit", params={"object": "customers/c1"}))["data"]
    actions = [e["action"] for e in audit]
    assert "console spend-limit set" in actions
    assert actions.count("console spend-limit delete") == 1  # the repeat removed nothing


def test_plan_change_previews_then_changes_once(api: TestClient, browser: TestClient) -> None:
    page = browser.get(PAGE)
    token = csrf_of(page.text)
    sub = re.search(
        r'<select id="change-sub" name="subscription"><option value="([^"]+)"', page.text
    )
    assert sub is not None
    form = {
        "subscription": sub.group(1),
        "plan": "enterprise",
        "allowance_policy": "prorate",
        "fee_proration": "prorate",
        "csrf": token,
    }
    assert browser.post(f"{PAGE}/change-plan", data={**form, "csrf": ""}).status_code == 403
    preview = browser.post(f"{PAGE}/change-plan", data=form)
    assert preview.status_code == 200, preview.text
    assert "Confirm plan change" in preview.text and "enterprise v1" in preview.text
    table = preview.text[preview.text.index('id="change-preview"') :].split("</table>")[0]
    cells = re.findall(r'<td class="num">([^<]+)</td>', table)
    assert len(cells) == 4
    so_far_now, so_far_after = cells[0], cells[1]
    assert so_far_now != so_far_after  # the change is priced, not just named
    stored = ok(api.get(f"/v1/subscriptions/{form['subscription']}"))
    assert stored["plan"] == "growth"  # a preview stores nothing
    confirm = dict(
        re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', preview.text)
    )
    assert confirm["confirm"] == "yes" and confirm["from_plan"] == "growth"
    for _ in range(2):  # a double submit changes once
        done = browser.post(f"{PAGE}/change-plan", data=confirm, follow_redirects=False)
        assert done.status_code == 303, done.text
    changed = ok(api.get(f"/v1/subscriptions/{form['subscription']}"))
    assert changed["plan"] == "enterprise"
    assert len(changed["phases"]) == 2, changed["phases"]
    # a confirmation of a stale preview (growth -> growth v1 now that it is on enterprise)
    stale = {**confirm, "plan": "growth", "version": "1"}
    refused = browser.post(f"{PAGE}/change-plan", data=stale)
    assert refused.status_code == 409 and "changed since the preview" in refused.text
    assert ok(api.get(f"/v1/subscriptions/{form['subscription']}"))["plan"] == "enterprise"
    audit = ok(api.get("/v1/audit", params={"object": f"subscriptions/{form['subscription']}"}))
    console = [e for e in audit["data"] if e["action"].startswith("console ")]
    assert [e["action"] for e in console] == ["console subscriptions change"]  # once
    assert console[0]["after"] == {"plan": "enterprise", "version": 1}


def test_plan_change_input_is_checked(api: TestClient, browser: TestClient) -> None:
    token = csrf_of(browser.get(PAGE).text)
    sub = ok(api.get("/v1/subscriptions", params={"customer": "c1"}))["data"][0]["id"]
    base = {"subscription": sub, "plan": "enterprise", "csrf": token}
    cases = [
        ({"plan": "nope"}, 404),
        ({"version": "x"}, 422),
        ({"version": "7"}, 404),
        ({"allowance_policy": "sometimes"}, 422),
        ({"subscription": "sub_nope"}, 404),
        ({"plan": ""}, 422),
    ]
    for change, status in cases:
        answer = browser.post(f"{PAGE}/change-plan", data={**base, **change})
        assert answer.status_code == status, (change, answer.status_code)
        assert 'role="alert"' in answer.text
    ok(api.post("/v1/customers", json={"id": "c2", "currency": "USD"}), 201)
    other = browser.post("/console/customers/c2/change-plan", data=base)
    assert other.status_code == 422 and "not this customer" in other.text
