"""Console customer actions and experiment arms in headless Chromium (Playwright, Debian's
/usr/bin/chromium) against a real ``tallybook serve``, seeded as
``test_console_browser`` plus a second plan, Scale, with features (``sso`` boolean,
``calls`` metered on API calls, hard limit 200,000 a period).

The browser opens the overview (the MRR panel arrives by htmx), finds a customer in
overage (Acme), sets a hard spend limit (confirmed), changes Acme's plan to Scale after the
preview (confirmed), sees Scale's entitlements, then creates, ramps and reads an
experiment on the arms page. Each page at 1440 px and 390 px: no console error, no
serious or critical axe-core violation, a screenshot (paths printed).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e import test_console_browser as base
from tests.e2e.test_portal_browser import ARGS, CATALOG

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

chromium_path, console, shots, axe_source = (
    base.chromium_path,
    base.console,
    base.shots,
    base.axe_source,
)
Checker, ok = base.Checker, base.ok


def scale_catalog() -> dict[str, Any]:
    document = copy.deepcopy(CATALOG)
    scale = copy.deepcopy(document["plans"][0])
    scale.update(key="scale", name="Scale")
    scale["charges"][0]["amount"] = "500.00"
    scale["charges"][1]["included"] = 200000
    scale["features"] = [
        {"key": "sso", "type": "boolean"},
        {"key": "calls", "type": "metered", "meter": "api_calls", "limit": 200000, "hard": True},
    ]
    document["plans"].append(scale)
    return document


def test_customer_actions_and_experiment_arms(
    chromium_path: str, console: dict[str, Any], axe_source: str, shots: Path
) -> None:
    api = console["api"]
    ok(api.put("/v1/catalog", json=scale_catalog()))
    base_url = console["base_url"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            checker = Checker(page, axe_source, shots)
            page.goto(f"{base_url}/console/login")
            page.get_by_label("API key").fill(console["api_key"])
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{base_url}/console")
            overview_then_overage(page, checker)
            spend_limit(page, checker, api)
            change_plan(page, checker, api)
            arms(page, checker, api)
            assert len(checker.taken) >= 14
        finally:
            browser.close()


def overview_then_overage(page: Page, checker: Checker) -> None:
    expect(page.locator("#mrr-figure")).to_contain_text("$")  # the panel came by htmx
    page.wait_for_function("!!window.Chart && Object.keys(Chart.instances).length === 1")
    checker.check("actions-overview")
    overage = page.locator("#overage-list")
    expect(overage).to_contain_text("Acme Corp")
    overage.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_role("heading", name="Acme Corp", level=1)).to_be_visible()
    expect(page.locator("#spend-limit")).to_contain_text("No spend limit")
    expect(page.locator("#alert-rules")).to_contain_text("default:allowance:api")
    checker.check("customer-actions")


def spend_limit(page: Page, checker: Checker, api: Any) -> None:
    page.get_by_label("Limit per period (USD)").fill("150")
    page.get_by_label("Mode").select_option("hard")
    page.get_by_role("button", name="Set spend limit").click()
    expect(page.get_by_role("heading", name="Confirm spend limit")).to_be_visible()
    expect(page.locator("main")).to_contain_text("$150.00")
    checker.check("spend-limit-confirm")
    page.get_by_role("button", name="Confirm spend limit").click()
    expect(page.get_by_role("status")).to_contain_text("Spend limit set.")
    expect(page.locator("#spend-limit")).to_contain_text("hard")
    limit = ok(api.get("/v1/customers/acme/spend-limit"))
    assert (Decimal(limit["amount"]), limit["mode"]) == (Decimal(150), "hard")
    assert Decimal(limit["period_total"]) >= Decimal("150")  # 200.00 fee in advance
    expect(page.locator("#spend-limit")).to_contain_text("metered features blocked")


def change_plan(page: Page, checker: Checker, api: Any) -> None:
    page.get_by_label("New plan").select_option("scale")
    page.get_by_role("button", name="Preview plan change").click()
    expect(page.get_by_role("heading", name="Confirm plan change")).to_be_visible()
    expect(page.locator("#change-target")).to_contain_text("scale v1")
    expect(page.locator("#change-preview")).to_contain_text("Projected at period end")
    checker.check("change-plan-confirm")
    subs = ok(api.get("/v1/subscriptions", params={"customer": "acme"}))["data"]
    assert [s["plan"] for s in subs] == ["growth"]  # the preview stored nothing
    page.get_by_role("button", name="Confirm plan change").click()
    expect(page.get_by_role("status")).to_contain_text("changed")
    subs = ok(api.get("/v1/subscriptions", params={"customer": "acme"}))["data"]
    assert [s["plan"] for s in subs] == ["scale"]
    table = page.locator("#entitlements")
    expect(table).to_contain_text("sso")
    calls = table.locator("tr", has_text="calls")
    expect(calls).to_contain_text("200000 hard")
    expect(calls).to_contain_text("spend limit reached")  # the hard spend limit blocks it
    checker.check("customer-after-change")


def arms(page: Page, checker: Checker, api: Any) -> None:
    page.get_by_role("link", name="Experiments", exact=True).click()
    page.get_by_role("link", name="Experiment arms").click()
    expect(page.get_by_role("heading", name="Experiment arms", level=1)).to_be_visible()
    page.get_by_label("Key").fill("scale-test")
    page.get_by_label("Control plan").select_option("growth")
    page.get_by_label("Treatment plan").select_option("scale")
    page.get_by_label("Treatment share").fill("0.3")
    page.get_by_role("button", name="Create experiment").click()
    expect(page.locator("main")).to_contain_text("Create experiment scale-test")
    checker.check("experiment-confirm")
    page.get_by_role("button", name="Confirm create").click()
    expect(page.get_by_role("status")).to_contain_text("Experiment created.")
    for n in range(4):
        body = {"id": f"trial-{n}", "name": f"Trial {n}", "currency": "USD"}
        ok(api.post("/v1/customers", json=body))
        sub = {"customer": f"trial-{n}", "plan": "experiment:scale-test"}
        ok(api.post("/v1/subscriptions", json=sub))
    page.reload()
    table = page.locator('table[data-experiment="scale-test"]')
    counts = [
        int(table.locator("tbody tr").nth(i).locator("td").nth(1).inner_text()) for i in (0, 1)
    ]
    assert sum(counts) == 4, counts
    page.get_by_label("New treatment share").fill("0.5")
    page.get_by_role("button", name="Ramp").click()
    page.get_by_role("button", name="Confirm ramp").click()
    expect(page.get_by_role("status")).to_contain_text("Experiment ramped.")
    assert ok(api.get("/v1/experiments/scale-test"))["share"] == "0.5"
    checker.check("experiment-arms")
