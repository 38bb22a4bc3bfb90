"""The console's experiment arms page on SQLite and PostgreSQL: create (confirmed; a double
submit creates one), per-arm results as the API gives them, ramp (only up) and stop, each
POST needing the CSRF token; CSV; bad input shown with the API's status.

Seeded as ``test_entitlements_api`` (plans ``growth`` and ``enterprise``, USD, monthly).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.integration import test_console_customer_actions as console
from tests.integration.test_console import csrf_of
from tests.integration.test_entitlements_api import ok

PAGE = "/console/experiments/arms"


clock, app_container, api = console.clock, console.app_container, console.api
browser = console.browser


def arm_cells(html: str, key: str) -> dict[str, list[str]]:
    table = html[html.index(f'data-experiment="{key}"') :].split("</table>")[0]
    rows = re.findall(r'<th scope="row">(\w+)</th>(.*?)</tr>', table, re.S)
    return {arm: re.findall(r"<td[^>]*>([^<]*)</td>", cells) for arm, cells in rows}


def test_create_ramp_stop_and_results(api: TestClient, browser: TestClient) -> None:
    token = csrf_of(browser.get(PAGE).text)
    form: dict[str, Any] = {
        "action": "create",
        "key": "price-up",
        "control_plan": "growth",
        "treatment_plan": "enterprise",
        "share": "0.5",
        "csrf": token,
    }
    assert browser.post(PAGE, data={**form, "csrf": "x"}).status_code == 403
    asked = browser.post(PAGE, data=form)
    assert asked.status_code == 200 and "Confirm experiment change" in asked.text
    assert ok(api.get("/v1/experiments"))["data"] == []
    confirm = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', asked.text))
    assert confirm["confirm"] == "yes" and confirm["start"]
    for _ in range(2):  # a double submit: one experiment (same start, idempotent create)
        done = browser.post(PAGE, data=confirm, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=created"
    assert [e["key"] for e in ok(api.get("/v1/experiments"))["data"]] == ["price-up"]
    for n in range(8):
        ok(api.post("/v1/customers", json={"id": f"x{n}", "currency": "USD"}), 201)
        sub = {"customer": f"x{n}", "plan": "experiment:price-up", "start": "2026-01-10T00:00:00Z"}
        ok(api.post("/v1/subscriptions", json=sub), 201)
    page = browser.get(PAGE, params={"done": "created"})
    assert page.status_code == 200 and "Experiment created." in page.text
    cells = arm_cells(page.text, "price-up")
    results = ok(api.get("/v1/experiments/price-up/results"))
    for arm in ("control", "treatment"):
        plan, customers, converted, _conv, churned, _churn, _mrr, _arpa = cells[arm]
        want = results[arm]
        assert (plan, int(customers), int(converted), int(churned)) == (
            want["plan"],
            want["customers"],
            want["converted"],
            want["churned"],
        )
    assert int(cells["control"][1]) + int(cells["treatment"][1]) == 8
    csv = browser.get(f"{PAGE}/price-up.csv")
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("arm,plan,customers")
    assert len(csv.text.splitlines()) == 3
    ramp = {"action": "ramp", "key": "price-up", "share": "0.8", "csrf": token}
    asked = browser.post(PAGE, data=ramp)
    assert asked.status_code == 200 and "from 0.5 to <strong>0.8</strong>" in asked.text
    for _ in range(2):  # a repeated ramp to the same share changes nothing
        done = browser.post(PAGE, data={**ramp, "confirm": "yes"}, follow_redirects=False)
        assert done.headers["location"] == f"{PAGE}?done=ramped"
    assert Decimal(ok(api.get("/v1/experiments/price-up"))["share"]) == Decimal("0.8")
    lower = browser.post(PAGE, data={**ramp, "share": "0.2", "confirm": "yes"})
    assert lower.status_code == 422 and "can only rise" in lower.text
    stop = {"action": "stop", "key": "price-up", "csrf": token}
    assert "Stop experiment" in browser.post(PAGE, data=stop).text
    for _ in range(2):
        done = browser.post(PAGE, data={**stop, "confirm": "yes"}, follow_redirects=False)
        assert done.headers["location"] == f"{PAGE}?done=stopped"
    assert ok(api.get("/v1/experiments/price-up"))["status"] == "stopped"
    assert "stopped" in browser.get(PAGE).text


def test_bad_input_is_shown_with_the_api_status(browser: TestClient) -> None:
    token = csrf_of(browser.get(PAGE).text)
    base = {"csrf": token, "confirm": "yes", "control_plan": "growth"}
    cases = [
        (
            {"action": "create", "key": "bad key!", "treatment_plan": "enterprise", "share": "1"},
            422,
        ),
        ({"action": "create", "key": "k", "treatment_plan": "enterprise", "share": "2"}, 422),
        ({"action": "create", "key": "k", "treatment_plan": "growth", "share": "0.5"}, 422),
        ({"action": "create", "key": "k", "treatment_plan": "nope", "share": "0.5"}, 404),
        ({"action": "create", "key": "k", "treatment_plan": "enterprise", "share": "x"}, 422),
        ({"action": "ramp", "key": "missing", "share": "0.5"}, 404),
        ({"action": "stop", "key": "missing"}, 404),
        ({"action": "explode", "key": "k"}, 422),
    ]
    for fields, status in cases:
        answer = browser.post(PAGE, data={**base, **fields})
        assert answer.status_code == status, (fields, answer.status_code)
        assert 'role="alert"' in answer.text
    assert browser.get(PAGE, params={"done": "hacked"}).status_code == 422
    assert browser.get(PAGE, params={"other": "1"}).status_code == 400
    assert browser.get(f"{PAGE}/missing.csv").status_code == 404
