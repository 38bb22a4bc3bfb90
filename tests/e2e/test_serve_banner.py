"""The start banner of ``tallybook serve`` (issue 17, items 8 and 10), on a real server.

Reproductions: a key given in ``TALLYBOOK_API_KEY`` was printed in the banner (it ends up
in logs); without ``--demo`` the banner's sample calls asked for the demo customer and
got 404. Here every sample call the banner prints is run against the server it describes.
"""

from __future__ import annotations

import re
import shlex

import httpx
import pytest

from tallybook.banner import ENV_KEY, ShownKey, banner_lines
from tests.e2e.conftest import E2E_KEY, ServerFactory

pytestmark = pytest.mark.e2e


def sample_calls(text: str) -> list[list[str]]:
    """The curl commands of a banner, split as a shell would."""
    return [
        shlex.split(line.strip()) for line in text.splitlines() if line.strip().startswith("curl ")
    ]


def run_curl(argv: list[str], key: str) -> httpx.Response:
    """Run one printed curl command with httpx (-H, -d; GET unless there is data)."""
    headers, data, url = {}, None, ""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip().replace(ENV_KEY, key)
        elif arg == "-d":
            data = next(args)
        elif not arg.startswith("-"):
            url = arg
    method = "POST" if data is not None else "GET"
    return httpx.request(method, url, headers=headers, content=data, timeout=10)


def test_a_configured_key_is_never_printed_and_the_sample_calls_work(
    server: ServerFactory, sqlite_url: str
) -> None:
    _, key, handle = server(sqlite_url)
    output = handle.log_path.read_text(errors="replace")
    assert "Tallybook is running" in output
    assert E2E_KEY not in output and E2E_KEY[:12] not in output
    assert "TALLYBOOK_API_KEY" in output
    calls = sample_calls(output)
    assert len(calls) == 2
    answers = [run_curl(call, key) for call in calls]
    for call, response in zip(calls, answers, strict=True):
        assert response.is_success, (call, response.status_code, response.text)
    assert answers[1].json()["accepted"] == 1  # an event for a customer not created yet


def test_a_generated_key_is_printed_once() -> None:
    lines = banner_lines("http://h:1", [ShownKey("tb_generated", "generated", True)], demo=False)
    assert any("tb_generated" in line for line in lines)
    assert not any("/v1/customers/acme" in line for line in lines)  # no demo customer
    configured = banner_lines("http://h:1", [ShownKey("tb_secret", "registered", False)], demo=True)
    assert not any("tb_secret" in line for line in configured)
    assert any(
        re.search(r"Bearer \$TALLYBOOK_API_KEY.*/v1/customers/acme/usage", line)
        for line in configured
    )


def test_the_banner_points_a_new_user_at_the_console() -> None:
    """Reproduction (trial of issue 14): ``make run`` named only ``/portal``, so a new user
    had to find ``/console`` in the docs, and nothing said how to get the second key that
    approves a price change."""
    demo = banner_lines("http://h:1", [ShownKey("tb_demo", "demo key", True)], demo=True)
    assert "http://h:1/console " in "\n".join(demo) + " "
    assert any("--role pricing_approver" in line for line in demo)
    plain = banner_lines("http://h:1", [], demo=False)
    assert any(line.startswith("Console:") and "http://h:1/console" in line for line in plain)
    assert not any("pricing_approver" in line for line in plain)
