"""Who is asking: a bearer API key, or the portal's session cookie.

Logging in to the portal with an API key opens a server-side session
(``services.portal_sessions``): the cookie holds only a random session token, never the
key. It is ``HttpOnly`` and ``SameSite=Strict``, and ``Secure`` when the request came
over https (behind a TLS proxy: only when ``TALLYBOOK_TRUSTED_PROXIES`` names the proxy,
so its ``X-Forwarded-Proto`` is honoured). Every page and document is scoped to the
session's tenant exactly as the API is to a key's; logging out revokes the session, and
revoking the key ends it. Forms posted by a logged-in page carry the session's anti-CSRF
token (``csrf``); login, before any session, is refused from another site
(``Origin`` / ``Sec-Fetch-Site``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import Response

from tallybook.api.access import check_access
from tallybook.bootstrap import Container
from tallybook.services.portal_sessions import csrf_token

COOKIE = "tallybook_portal"


def bearer_key(request: Request) -> str | None:
    """``Authorization: Bearer <key>`` (or ``X-Api-Key``), as the API reads it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key")


def cookie_key(request: Request) -> str | None:
    """The session token of the portal cookie (None without one)."""
    return request.cookies.get(COOKIE) or None


def tenant_of(request: Request, container: Container, *, cookie: bool = True) -> str:
    """The tenant of the request's bearer key, else of a live portal session; Unauthorized."""
    key = bearer_key(request)
    if key is None and cookie:
        tenant = container.portal_sessions.tenant(cookie_key(request))
        if tenant is not None:
            return tenant
    identity = container.tenants.identify(key)
    check_access(request, identity)
    return identity.tenant_id


def portal_tenant(request: Request, container: Container) -> str | None:
    """The tenant of the portal session, or None when missing, expired or revoked."""
    return container.portal_sessions.tenant(cookie_key(request))


def page_csrf(request: Request) -> str:
    """The anti-CSRF token the pages of this session put in their forms."""
    token = cookie_key(request)
    return csrf_token(token) if token else ""


def cross_site(request: Request) -> bool:
    """A form posted from another site: ``Sec-Fetch-Site`` says so, or the ``Origin``
    host is not ours. Hosts only, not schemes: behind a TLS proxy the page is https
    while we may see http."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host")


def set_login(
    response: Response,
    request: Request,
    token: str,
    max_age: int,
    *,
    cookie: str = COOKIE,
    path: str = "/",
) -> None:
    """Put the session token in the cookie (``Secure`` when the request came over https);
    the customer portal uses its own ``cookie`` and ``path`` (``portal.account``)."""
    response.set_cookie(
        cookie,
        token,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_login(
    response: Response, request: Request, *, cookie: str = COOKIE, path: str = "/"
) -> None:
    response.delete_cookie(
        cookie,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
