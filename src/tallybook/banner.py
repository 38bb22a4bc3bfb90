"""What ``tallybook serve`` prints when it starts (the banner), as plain lines.

A key is printed only when Tallybook generated it (the first start's admin key, the demo
key): a key the operator supplied in ``TALLYBOOK_API_KEY`` is never printed, since the
banner ends up in logs. Sample calls are ones that work on what the server holds: without
``--demo`` an empty tenant (list customers, send an event: events may arrive before their
customer exists), with ``--demo`` the demo customer ``acme``. The operator console's
address comes first (a new user's month of work starts there, ``docs/console.md``); with
``--demo`` also how to create the second key a price change's approval needs.
"""

from __future__ import annotations

from dataclasses import dataclass

ENV_KEY = "$TALLYBOOK_API_KEY"


@dataclass(frozen=True, slots=True)
class ShownKey:
    """A key for the banner: printed only when ``generated``."""

    key: str
    note: str
    generated: bool


def banner_lines(base: str, keys: list[ShownKey], *, demo: bool) -> list[str]:
    """The banner's lines (rich markup) for a server at ``base`` (``http://host:port``)."""
    lines = []
    for key in keys:
        if key.generated:
            lines.append(f"API key ({key.note}): [bold green]{key.key}[/]")
        else:
            lines.append(f"API key: the one in TALLYBOOK_API_KEY ({key.note}; not shown)")
    if not keys:
        lines.append("API key: the one you configured or created earlier (tallybook keys create)")
    lines.append(f"Console:       {base}/console   (log in with the API key above)")
    if demo:
        lines.append(
            "  A second key, to approve a price change proposed with the first: "
            "tallybook keys create --name approver --role pricing_approver"
        )
    lines.append(f"Dashboard:     {base}/portal")
    lines.append(f"API docs:      {base}/docs   OpenAPI: {base}/openapi.json")
    shown = next((k.key for k in reversed(keys) if k.generated), ENV_KEY)
    auth = f"-H 'Authorization: Bearer {shown}'"
    customer = "acme" if demo else "c1"
    if demo:
        lines.append("Sample call (current usage and projected bill of the demo customer acme):")
        lines.append(f"  curl -s {auth} {base}/v1/customers/acme/usage")
    else:
        lines.append("Sample call (your customers; none yet: see the README tour):")
        lines.append(f"  curl -s {auth} {base}/v1/customers")
    lines.append("Send an event:")
    lines.append(
        f"  curl -s {auth} -H 'Content-Type: application/json' "
        f"""-d '{{"id": "evt_1", "customer": "{customer}", "type": "api_request"}}' """
        f"{base}/v1/events"
    )
    return lines
