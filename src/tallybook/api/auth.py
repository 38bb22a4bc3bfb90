"""Who is asking: a bearer API key, or the portal's cookie holding one.

The portal logs in with an API key and keeps it in an ``HttpOnly``, ``SameSite=Strict``
cookie (``Secure`` over HTTPS), so every page and document is scoped to the same tenant
exactly as the API is: the key is checked on each request, and revoking it logs the
browser out. The cookie is sent only to this site's own pages (Strict), which also
keeps other sites from making a logged-in browser act (the only cookie-authenticated
write is logout).
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from tallybook.bootstrap import Container
from tallybook.domain.errors import Unauthorized

COOKIE = "tallybook_portal"
MAX_AGE = 8 * 3600  # a working day; log in again after


def bearer_key(request: Request) -> str | None:
    """``Authorization: Bearer <key>`` (or ``X-Api-Key``), as the API reads it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key")


def cookie_key(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def tenant_of(request: Request, container: Container, *, cookie: bool = True) -> str:
    """The tenant of the request's bearer key, else of the portal cookie; Unauthorized."""
    key = bearer_key(request)
    if key is None and cookie:
        key = cookie_key(request)
    return container.tenants.authenticate(key)


def portal_tenant(request: Request, container: Container) -> str | None:
    """The tenant of the portal cookie, or None when missing or no longer valid."""
    key = cookie_key(request)
    if key is None:
        return None
    try:
        return container.tenants.authenticate(key)
    except Unauthorized:
        return None


def set_login(response: Response, request: Request, key: str) -> None:
    response.set_cookie(
        COOKIE,
        key,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_login(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
