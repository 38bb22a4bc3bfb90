"""Which keys may open which console page or send which console form.

The console borrows the API's role table (``api.access``, CONTRACT.md governance) instead
of keeping its own: every console route names the API call it stands for, and a key may
use the console route exactly when its roles may make that call. So a ``viewer`` reads
every page but sends no form, a ``billing`` key grants credits and marks invoices paid,
a ``pricing_editor`` proposes changes and rollbacks and runs backtests, a
``pricing_approver`` approves and rejects, and webhook retries stay ``admin``'s.

- Logging in needs a reading role (``access.may_view``: the portal's rule); an
  ``ingest``-only key is refused.
- A ``GET`` page that is not listed in ``ROUTES`` stands for an API ``GET`` (every
  reading role); a ``POST`` that is not listed is ``admin``-only (closed by default).
- ``tests/integration/test_console_roles.py`` walks every console route with every role.
"""

from __future__ import annotations

from tallybook.api.access import ADMIN, allowed_roles, may_view

__all__ = ["ROUTES", "allows", "api_call", "may_log_in"]

# (method, console route template) -> (method, API route template) it stands for
ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/console/customers/{customer_id:path}/grant"): (
        "POST",
        "/v1/customers/{customer_id}/credit-grants",
    ),
    # ``action`` is ``pay`` or ``void``: both are the billing role's
    ("POST", "/console/invoices/{reference}/{action}"): ("POST", "/v1/invoices/{reference}/pay"),
    ("POST", "/console/operations/messages/{message_id}/retry"): (
        "POST",
        "/v1/webhook-messages/{message_id}/retry",
    ),
    ("POST", "/console/operations/dead-letters/{rejected_id}/replay"): (
        "POST",
        "/v1/events/rejected/{rejected_id}/replay",
    ),
    ("POST", "/console/experiments/backtests"): ("POST", "/v1/backtests"),
    # refreshing the stored MRR snapshot: whoever may start a billing run (``billing``)
    ("POST", "/console/overview/mrr/refresh"): ("POST", "/v1/billing-runs"),
    # customer actions and experiment arms (console.customer_actions, console.experiment_arms)
    ("POST", "/console/customers/{customer_id:path}/spend-limit"): (
        "PUT",
        "/v1/customers/{customer_id}/spend-limit",
    ),
    ("POST", "/console/customers/{customer_id:path}/change-plan"): (
        "POST",
        "/v1/subscriptions/{subscription_id}/change",
    ),
    # ``action`` create, ramp or stop: all pricing research (``pricing_editor``)
    ("POST", "/console/experiments/arms"): ("POST", "/v1/experiments"),
    ("GET", "/console/experiments/allowance"): ("POST", "/v1/analytics/allowance-model"),
    # governance pages (console.catalog, console.approvals, console.audit)
    ("POST", "/console/catalog/changes/validate"): ("POST", "/v1/catalog/changes"),
    ("POST", "/console/catalog/changes/preview"): ("POST", "/v1/catalog/changes"),
    ("POST", "/console/catalog/changes"): ("POST", "/v1/catalog/changes"),
    ("GET", "/console/catalog/changes/new"): ("POST", "/v1/catalog/changes"),
    ("GET", "/console/catalog/plans/{key}/rollback"): ("POST", "/v1/plans/{key}/rollback"),
    ("POST", "/console/catalog/plans/{key}/rollback"): ("POST", "/v1/plans/{key}/rollback"),
    ("POST", "/console/approvals/{change_id}/approve"): (
        "POST",
        "/v1/catalog/changes/{change_id}/approve",
    ),
    ("POST", "/console/approvals/{change_id}/reject"): (
        "POST",
        "/v1/catalog/changes/{change_id}/reject",
    ),
}


def may_log_in(roles: tuple[str, ...]) -> bool:
    """True when a key with ``roles`` may open a console session (a reading role)."""
    return may_view(roles)


def api_call(method: str, console_route: str) -> tuple[str, str]:
    """The API call a console route stands for (see the module docstring)."""
    method = "GET" if method == "HEAD" else method
    found = ROUTES.get((method, console_route))
    if found is not None:
        return found
    if method == "GET":
        return ("GET", "/v1/console")  # a read: every reading role
    return (method, "/v1/console/admin")  # not in the API table: admin only


def allows(roles: tuple[str, ...], method: str, api_route: str) -> bool:
    """True when ``roles`` may call ``method api_route`` (``api.access``'s table)."""
    if ADMIN in roles:
        return True
    allowed = allowed_roles(method, api_route)
    return allowed is None or bool(allowed & set(roles))


def allowed_on(roles: tuple[str, ...], method: str, console_route: str) -> bool:
    """True when ``roles`` may use the console route ``method console_route``."""
    return may_log_in(roles) and allows(roles, *api_call(method, console_route))
