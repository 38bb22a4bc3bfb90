#!/usr/bin/env python3
"""A screenshot tour of every console and portal page, with axe-core and layout checks.

Starts ``tallybook serve --demo`` (the ``make run`` demo data) on a temporary SQLite file
on 127.0.0.1 and a free port, adds what the demo lacks for a few pages (a backtest, a
pending catalog change), logs into the console and the operator portal with an admin key
and opens a customer portal session, then visits every page at 1440 and 390 px in
headless Chromium (Playwright, ``/usr/bin/chromium``). For each visit it saves a
full-page PNG, runs axe-core (``node_modules/axe-core``) and records:

- axe violations of impact ``serious`` or ``critical``;
- horizontal overflow (``document.scrollingElement.scrollWidth > innerWidth``);
- console errors and warnings, page errors, and HTTP statuses >= 400.

The pages come from the app's routers (``tallybook.api.app.ROUTERS``): every GET route
under ``/console``, ``/portal``, ``/docs`` and ``/redoc`` must have an entry in ``PAGES``
(a URL to visit) or ``NOT_PAGES`` (why it is not a page: a CSV, an asset, a redirect), so
a new page cannot be forgotten; the tour fails when one has neither.

Usage: ``.venv/bin/python scripts/screenshots.py [--out build/screenshots] [--only NAME]``.
Exit status 1 when a route has no entry or any page has a finding. The e2e test
``tests/e2e/test_screenshot_tour.py`` runs the same tour on a few pages.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTHS = (1440, 390)
ADMIN_KEY = "tb_screenshots_admin_0123456789abcdef0123456789"
PREFIXES = ("/console", "/portal", "/docs", "/redoc")
START_TIMEOUT = 120.0  # a hang guard: the demo seeds ~75 days of usage first

# Route path -> (page name, URL with {customer}, {invoice}, {plan}, {change}, {backtest},
# {arm}, {account_invoice} filled from the demo data; who opens it: console, portal
# (operator portal) or account (a customer portal session).
PAGES: dict[str, tuple[str, str, str]] = {
    "/console/login": ("console-login", "/console/login", "anonymous"),
    "/console": ("console-overview", "/console", "console"),
    "/console/overview/mrr": ("console-overview-mrr", "/console/overview/mrr", "console"),
    "/console/overview/overage": (
        "console-overview-overage",
        "/console/overview/overage",
        "console",
    ),
    "/console/customers": ("console-customers", "/console/customers", "console"),
    "/console/customers/{customer_id:path}": (
        "console-customer",
        "/console/customers/{customer}",
        "console",
    ),
    "/console/invoices": ("console-invoices", "/console/invoices", "console"),
    "/console/invoices/{reference}": (
        "console-invoice",
        "/console/invoices/{invoice}",
        "console",
    ),
    "/console/operations": ("console-operations", "/console/operations", "console"),
    "/console/experiments": ("console-experiments", "/console/experiments", "console"),
    "/console/experiments/backtests/{backtest_id}": (
        "console-backtest",
        "/console/experiments/backtests/{backtest}",
        "console",
    ),
    "/console/experiments/allowance": (
        "console-allowance",
        "/console/experiments/allowance?plan={plan}&charge={charge}",
        "console",
    ),
    "/console/experiments/arms": ("console-arms", "/console/experiments/arms", "console"),
    "/console/catalog": ("console-catalog", "/console/catalog", "console"),
    "/console/catalog/plans/{key}": ("console-plan", "/console/catalog/plans/{plan}", "console"),
    "/console/catalog/plans/{key}/rollback": (
        "console-rollback",
        "/console/catalog/plans/{plan}/rollback?version=1",
        "console",
    ),
    "/console/catalog/changes/new": (
        "console-change-new",
        "/console/catalog/changes/new",
        "console",
    ),
    "/console/approvals": ("console-approvals", "/console/approvals", "console"),
    "/console/approvals/{change_id}": (
        "console-approval",
        "/console/approvals/{change}",
        "console",
    ),
    "/console/audit": ("console-audit", "/console/audit", "console"),
    "/console/audit/verify": ("console-audit-verify", "/console/audit/verify", "console"),
    "/portal/login": ("portal-login", "/portal/login", "anonymous"),
    "/portal": ("portal-customers", "/portal", "portal"),
    "/portal/customers/{customer_id:path}": (
        "portal-customer",
        "/portal/customers/{customer}",
        "portal",
    ),
    "/portal/customers/{customer_id:path}/upcoming": (
        "portal-upcoming",
        "/portal/customers/{customer}/upcoming",
        "portal",
    ),
    "/portal/account": ("account", "/portal/account", "account"),
    "/portal/account/upcoming": ("account-upcoming", "/portal/account/upcoming", "account"),
    "/portal/account/invoices/{invoice_id}": (
        "account-invoice",
        "/portal/account/invoices/{invoice}",
        "account",
    ),
    "/docs": ("docs", "/docs", "anonymous"),
    "/redoc": ("redoc", "/redoc", "anonymous"),
}
NOT_PAGES: dict[str, str] = {
    "/console/static/{name}": "the console's stylesheet and script",
    "/console/assets/{name}": "npm assets (Chart.js, htmx)",
    "/console/customers.csv": "CSV download",
    "/console/invoices.csv": "CSV download",
    "/console/mrr.csv": "CSV download",
    "/console/audit.csv": "CSV download",
    "/console/operations/{table}.csv": "CSV download",
    "/console/experiments/backtests/{backtest_id}.csv": "CSV download",
    "/console/experiments/arms/{key}.csv": "CSV download",
    "/portal/static/{name}": "the portal's stylesheet and script",
    "/portal/enter": "a portal link's entry: redirects to /portal/account (visited)",
    "/docs/assets/{name}": "Swagger UI assets",
    "/redoc/{name}": "ReDoc bundle",
}
# Findings in third-party UIs that this project does not render itself (page -> text in
# the finding -> why it is accepted). They are printed as "known", not failed.
KNOWN: dict[str, dict[str, str]] = {
    "docs": {
        "nested-interactive": "Swagger UI's operation summary nests its copy button (upstream)",
        "color-contrast": "Swagger UI's own version badge and URL colours (upstream)",
    },
    "redoc": {
        "OpenAPI Sampler": "ReDoc's example generator warns on allOf arrays in the schema",
    },
}


@dataclass
class Finding:
    """What one page showed at one width: the PNG and everything wrong with it."""

    name: str
    width: int
    path: Path
    url: str
    problems: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)

    def sort_known(self) -> None:
        """Move the problems ``KNOWN`` accepts for this page to ``known``."""
        accepted = KNOWN.get(self.name, {})
        self.known = [p for p in self.problems if any(text in p for text in accepted)]
        self.problems = [p for p in self.problems if p not in self.known]


def page_routes() -> list[str]:
    """Every GET route path under ``PREFIXES`` in the app's routers (no app is built)."""
    from tallybook.api.app import ROUTERS

    found: list[str] = []
    for name in ROUTERS:
        for path in _get_paths(importlib.import_module(name).router, ""):
            if path.startswith(PREFIXES) and path not in found:
                found.append(path)
    return found


def _get_paths(router: Any, prefix: str) -> Iterator[str]:
    """GET paths of ``router``, into the routers it includes (FastAPI >= 0.16x keeps an
    included router as a lazy ``_IncludedRouter``: ``original_router`` and its prefix)."""
    from fastapi.routing import APIRoute

    for route in router.routes:
        if isinstance(route, APIRoute):
            if "GET" in route.methods:
                yield prefix + route.path
        elif hasattr(route, "original_router"):
            inner = prefix + getattr(getattr(route, "include_context", None), "prefix", "")
            yield from _get_paths(route.original_router, inner)


def unlisted(routes: Iterable[str]) -> list[str]:
    """Routes with neither a ``PAGES`` nor a ``NOT_PAGES`` entry."""
    return [path for path in routes if path not in PAGES and path not in NOT_PAGES]


def stale(routes: Iterable[str]) -> list[str]:
    """``PAGES`` and ``NOT_PAGES`` entries that match no route any more."""
    known = set(routes)
    return [path for path in (*PAGES, *NOT_PAGES) if path not in known]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def demo_server(workdir: Path) -> Iterator[str]:
    """``tallybook serve --demo`` on a fresh SQLite file in ``workdir``; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "TALLYBOOK_DATABASE_URL": f"sqlite:///{workdir / 'demo.sqlite'}",
        "TALLYBOOK_API_KEY": ADMIN_KEY,
        "TALLYBOOK_LOG_JSON": "false",
        "TALLYBOOK_NODE_MODULES": str(REPO / "node_modules"),
    }
    tallybook = Path(sys.executable).with_name("tallybook")
    command = [str(tallybook)] if tallybook.exists() else [sys.executable, "-m", "tallybook.cli"]
    command += ["serve", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the demo server exited:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo server is not ready after {START_TIMEOUT} s")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _ok(response: httpx.Response) -> Any:
    if not response.is_success:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json()


def demo_ids(api: httpx.Client) -> dict[str, str]:
    """Ids to fill the page URLs, from the demo data plus a backtest and a pending
    catalog change made here (the demo has neither)."""
    customers = _ok(api.get("/v1/customers"))["data"]
    customer = customers[0]["id"]
    invoices = _ok(api.get("/v1/invoices", params={"customer": customer}))["data"]
    invoice = next(i["id"] for i in invoices if i.get("number"))
    catalog = _ok(api.get("/v1/catalog"))
    plan = catalog["plans"][0]
    candidate = copy.deepcopy(plan)  # the platform fee 10.00 higher
    fee = next(c for c in candidate["charges"] if c.get("amount"))
    fee["amount"] = str(Decimal(fee["amount"]) + 10)
    now = datetime_now()
    backtest = _ok(
        api.post(
            "/v1/backtests",
            json={
                "from": month_start(now, back=2),
                "to": month_start(now, back=0),
                "substitutions": [{"plan": plan["key"], "candidate": candidate}],
            },
        )
    )["id"]
    deadline = time.monotonic() + 60
    while _ok(api.get(f"/v1/backtests/{backtest}"))["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    document = {"meters": catalog["meters"], "plans": [candidate, *catalog["plans"][1:]]}
    change = api.post(
        "/v1/catalog/changes",
        json={"document": document, "effective_at": now, "reason": "screenshot tour"},
    )
    if not change.is_success:
        print(f"no catalog change to show: {change.text}", file=sys.stderr)
    change_id = change.json()["id"] if change.is_success else "none"
    charge = next(c["key"] for c in plan["charges"] if c.get("meter"))
    return {
        "customer": customer,
        "invoice": invoice,
        "plan": plan["key"],
        "backtest": backtest,
        "change": change_id,
        "charge": charge,
    }


def datetime_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0).isoformat()


def month_start(now: str, back: int) -> str:
    from datetime import datetime

    day = datetime.fromisoformat(now).replace(day=1, hour=0, minute=0, second=0)
    for _ in range(back):
        day = (day.replace(day=1) - _one_day()).replace(day=1)
    return day.isoformat()


def _one_day() -> Any:
    from datetime import timedelta

    return timedelta(days=1)


AXE_RUN = (
    "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
    ".map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}: `"
    " + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ') + ')')"
)
OVERFLOW = """() => {
  const page = document.scrollingElement.scrollWidth;
  if (page <= window.innerWidth) return null;
  const clipped = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== 'visible') return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll('body *')].filter(
    (el) => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !clipped(el));
  return `scrollWidth ${page} > innerWidth ${window.innerWidth}: ` + wide.slice(0, 4).map(
    (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.className ? '.' + String(el.className).split(' ').join('.') : '')).join(', ');
}"""


class Tour:
    """One browser context per role (console, portal, account, anonymous); ``visit``
    shoots and checks a page at every width."""

    def __init__(self, browser: Any, base_url: str, out: Path, axe: str) -> None:
        self.browser, self.base_url, self.out, self.axe = browser, base_url, out, axe
        self.pages: dict[str, Any] = {}
        self.findings: list[Finding] = []

    def page(self, role: str, api: httpx.Client, customer: str) -> Any:
        if role not in self.pages:
            context = self.browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
            page = context.new_page()
            if role in ("console", "portal"):
                page.goto(f"{self.base_url}/{role}/login")
                page.get_by_label("API key").fill(ADMIN_KEY)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(lambda url: "/login" not in url)
            elif role == "account":
                link = _ok(api.post(f"/v1/customers/{customer}/portal-sessions"))["url"]
                page.goto(link)
                page.wait_for_url(f"{self.base_url}/portal/account")
            self.pages[role] = page
        return self.pages[role]

    def visit(self, page: Any, name: str, url: str) -> list[Finding]:
        messages: list[str] = []

        def console(message: Any) -> None:
            if message.type in ("error", "warning"):
                messages.append(f"console {message.type}: {message.text}")

        page.on("console", console)
        page.on("pageerror", lambda error: messages.append(f"page error: {error}"))
        found = []
        try:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                response = page.goto(f"{self.base_url}{url}")
                page.wait_for_load_state("load")
                page.wait_for_timeout(150)  # charts draw on DOMContentLoaded
                finding = Finding(name, width, self.out / f"{name}-{width}.png", url)
                if response is None or response.status >= 400:
                    status = None if response is None else response.status
                    finding.problems.append(f"HTTP {status}")
                page.evaluate(self.axe)
                finding.problems += page.evaluate(AXE_RUN)
                overflow = page.evaluate(OVERFLOW)
                if overflow:
                    finding.problems.append(f"horizontal overflow: {overflow}")
                page.screenshot(path=str(finding.path), full_page=True)
                finding.problems += messages
                finding.sort_known()
                messages.clear()
                found.append(finding)
        finally:
            page.remove_listener("console", console)
        self.findings += found
        return found


def run(out: Path, only: set[str] | None = None) -> list[Finding]:
    """The whole tour (or the pages named in ``only``); the findings, one per page and
    width. Raises ``RuntimeError`` when a route has no entry."""
    from playwright.sync_api import sync_playwright

    missing = unlisted(page_routes())
    if missing:
        raise RuntimeError(f"GET routes with no entry in scripts/screenshots.py: {missing}")
    axe_path = REPO / "node_modules" / "axe-core" / "axe.min.js"
    if not axe_path.is_file():
        raise RuntimeError(f"{axe_path} is missing: run `npm ci` (make install does)")
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="tallybook-shots-") as tmp,
        demo_server(Path(tmp)) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
        ) as api,
        sync_playwright() as playwright,
    ):
        ids = demo_ids(api)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tour = Tour(browser, base_url, out, axe_path.read_text())
            for name, url, role in PAGES.values():
                if only and name not in only:
                    continue
                page = tour.page(role, api, ids["customer"])
                tour.visit(page, name, url.format(**ids))
            return tour.findings
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Starts a demo server on 127.0.0.1 (temporary SQLite); needs /usr/bin/chromium "
        "and node_modules (npm ci).",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "build" / "screenshots", help="PNG folder"
    )
    parser.add_argument("--only", action="append", help="a page name (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the pages and exit")
    args = parser.parse_args(argv)
    if args.list:
        for route, (name, url, role) in PAGES.items():
            print(f"{name:28} {role:9} {url:45} ({route})")
        missing = unlisted(page_routes())
        for route in missing:
            print(f"NO ENTRY: {route}")
        return 1 if missing else 0
    findings = run(args.out, set(args.only) if args.only else None)
    bad = 0
    for finding in findings:
        mark = "ok  " if not finding.problems else "FAIL"
        print(f"{mark} {finding.name:28} {finding.width:5} {finding.path}")
        for problem in finding.problems:
            print(f"       {problem}")
        for problem in finding.known:
            print(f"       known (third-party): {problem}")
        bad += bool(finding.problems)
    summary = {"pages": len({f.name for f in findings}), "shots": len(findings), "failing": bad}
    print(json.dumps(summary))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
