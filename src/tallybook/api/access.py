"""Which roles may call which route: one table, enforced in one dependency.

CONTRACT.md (governance): ``admin`` everything; ``viewer`` every GET but keys;
``billing`` viewer + customers, subscriptions, overrides, invoices, credits, commitments,
spend limits, billing runs; ``pricing_editor`` viewer + catalog edits (``PUT /v1/catalog``
when approval is not required), catalog changes and rollbacks; ``pricing_approver``
viewer + approve and reject; ``ingest`` only event ingestion and entitlement checks.
Roles combine (a key may hold several).

``ROUTE_ROLES`` maps ``(method, path template)`` to the roles besides ``admin`` that may
call it. A route missing from the table is admin-only (closed by default), and
``tests/integration/test_roles.py`` checks that every route of the OpenAPI document is
listed and answers ``403 forbidden`` exactly to the roles it does not name.

Decisions where the contract is silent (docs/governance.md): dead-letter replay and
discard belong to ``ingest``; backtests, the allowance model and experiments (pricing
research) to ``pricing_editor``; acquisition spend to ``billing``; webhook endpoints,
tenant settings (with the seller profile and invoice e-mails) and keys to ``admin`` only;
tax rates and credit notes to ``billing`` (the finance role: invoices, credits, Stripe
reconciliation); entitlement overrides, spend limits and customer portal links to
``billing``; alert definitions and alert settings to ``admin`` (like webhook endpoints,
they decide what leaves the system); the Stripe webhook needs no key (Stripe signs it).
"""

from __future__ import annotations

from fastapi import Request

from tallybook.domain.errors import Forbidden
from tallybook.services.ports import KeyIdentity

ADMIN = "admin"
VIEWERS = frozenset({"viewer", "billing", "pricing_editor", "pricing_approver"})
BILLING = frozenset({"billing"})
PRICING = frozenset({"pricing_editor"})
APPROVERS = frozenset({"pricing_approver"})
INGEST = frozenset({"ingest"})
ADMIN_ONLY: frozenset[str] = frozenset()
PUBLIC = None  # no key needed (health, metrics)

_GET_ONLY_ADMIN = {"/v1/keys"}
# entitlement checks are also the ingest role's (CONTRACT.md: "ingest only event ingestion
# and entitlement checks"): the product's back end checks and meters with one key
_ENTITLEMENT_CHECKS = {
    "/v1/customers/{customer_id}/entitlements",
    "/v1/customers/{customer_id}/entitlements/{feature}",
}

_MUTATIONS: dict[tuple[str, str], frozenset[str]] = {
    # customers, subscriptions, overrides, invoices, billing runs
    ("POST", "/v1/customers"): BILLING,
    ("PATCH", "/v1/customers/{customer_id}"): BILLING,
    ("POST", "/v1/customers/{customer_id}/archive"): BILLING,
    ("POST", "/v1/customers/{customer_id}/overrides"): BILLING,
    ("DELETE", "/v1/customers/{customer_id}/overrides/{override_id}"): BILLING,
    ("POST", "/v1/subscriptions"): BILLING,
    ("POST", "/v1/subscriptions/{subscription_id}/change"): BILLING,
    ("POST", "/v1/subscriptions/{subscription_id}/quantities"): BILLING,
    ("POST", "/v1/subscriptions/{subscription_id}/cancel"): BILLING,
    ("POST", "/v1/subscriptions/{subscription_id}/discounts"): BILLING,
    ("POST", "/v1/subscriptions/{subscription_id}/overrides"): BILLING,
    ("DELETE", "/v1/subscriptions/{subscription_id}/overrides/{override_id}"): BILLING,
    ("POST", "/v1/invoices/{reference}/void"): BILLING,
    ("POST", "/v1/invoices/{reference}/pay"): BILLING,
    ("POST", "/v1/billing-runs"): BILLING,
    ("PUT", "/v1/analytics/acquisition-spend"): BILLING,
    # invoices for finance (issue 16): credit notes, tax rates
    ("POST", "/v1/invoices/{reference}/credit-notes"): BILLING,
    ("POST", "/v1/tax-rates"): BILLING,
    # payment provider (issue 11): reconciliation runs (read-only comparisons, stored)
    ("POST", "/v1/reconciliation-runs"): BILLING,
    # credits and commitments (issue 9)
    ("POST", "/v1/customers/{customer_id}/credit-grants"): BILLING,
    ("POST", "/v1/credit-grants/{grant_id}/void"): BILLING,
    ("POST", "/v1/subscriptions/{subscription_id}/commitment"): BILLING,
    ("PUT", "/v1/customers/{customer_id}/credit-top-up"): BILLING,
    ("DELETE", "/v1/customers/{customer_id}/credit-top-up"): BILLING,
    ("PUT", "/v1/customers/{customer_id}/spend-limit"): BILLING,
    ("DELETE", "/v1/customers/{customer_id}/spend-limit"): BILLING,
    # entitlements and the customer portal (issue 10)
    ("PUT", "/v1/customers/{customer_id}/entitlements/{feature}"): BILLING,
    ("DELETE", "/v1/customers/{customer_id}/entitlements/{feature}"): BILLING,
    ("POST", "/v1/customers/{customer_id}/portal-sessions"): BILLING,
    # catalog: direct edits, changes, rollbacks; decisions
    ("PUT", "/v1/catalog"): PRICING,
    ("POST", "/v1/plans"): PRICING,
    ("POST", "/v1/plans/{key}/archive"): PRICING,
    ("POST", "/v1/plans/{key}/rollback"): PRICING,
    ("POST", "/v1/plans/{key}/migrations"): PRICING,
    ("POST", "/v1/meters"): PRICING,
    ("POST", "/v1/catalog/changes"): PRICING,
    ("POST", "/v1/catalog/changes/{change_id}/approve"): APPROVERS,
    ("POST", "/v1/catalog/changes/{change_id}/reject"): APPROVERS,
    # pricing research
    ("POST", "/v1/analytics/allowance-model"): PRICING,
    ("POST", "/v1/analytics/allowance-model.csv"): PRICING,
    ("POST", "/v1/backtests"): PRICING,
    ("POST", "/v1/experiments"): PRICING,
    ("PATCH", "/v1/experiments/{key}"): PRICING,
    ("POST", "/v1/experiments/{key}/stop"): PRICING,
    # ingestion
    ("POST", "/v1/events"): INGEST,
    ("POST", "/api/v1/events"): INGEST,
    ("POST", "/v1/events/rejected/{rejected_id}/replay"): INGEST,
    ("POST", "/v1/events/rejected/{rejected_id}/discard"): INGEST,
}

# no API key: probes, metrics, and the Stripe webhook (its Stripe-Signature is checked)
_PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics", "/v1/providers/stripe/webhook"}


def allowed_roles(method: str, path: str) -> frozenset[str] | None:
    """The roles besides ``admin`` that may call ``method path`` (a route template);
    None for a public route. GETs (and HEADs) are the viewers' unless listed otherwise."""
    if path in _PUBLIC_PATHS:
        return PUBLIC
    method = "GET" if method == "HEAD" else method
    if method == "GET":
        if path in _GET_ONLY_ADMIN or path.startswith("/v1/keys"):
            return ADMIN_ONLY
        if path in _ENTITLEMENT_CHECKS:
            return VIEWERS | INGEST
        return VIEWERS
    return _MUTATIONS.get((method, path), ADMIN_ONLY)


def may_view(roles: tuple[str, ...]) -> bool:
    """True if the roles may read (every GET but keys): the portal's login asks this."""
    return ADMIN in roles or bool(VIEWERS & set(roles))


def check_access(request: Request, identity: KeyIdentity) -> None:
    """Raise ``Forbidden`` (``403 forbidden``) unless ``identity``'s roles allow the
    matched route. Called by ``api.deps.get_tenant`` on every authenticated request."""
    if ADMIN in identity.roles:
        return
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    allowed = allowed_roles(request.method, path)
    if allowed is None or allowed & set(identity.roles):
        return
    raise Forbidden(
        f"the key's roles ({', '.join(identity.roles)}) do not allow {request.method} {path}",
        details={"roles": list(identity.roles), "allowed": sorted({ADMIN, *allowed})},
    )
