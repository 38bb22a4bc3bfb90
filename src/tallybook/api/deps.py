"""Request dependencies: the container and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tallybook.bootstrap import Container


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key")


def get_tenant(request: Request, container: Annotated[Container, Depends(get_container)]) -> str:
    """The tenant id of the request's API key; every query is scoped to it."""
    identity = container.tenants.identify(_bearer(request))
    request.state.tenant = identity.tenant_id
    request.state.key_id = identity.key_id
    return identity.tenant_id


ContainerDep = Annotated[Container, Depends(get_container)]
TenantDep = Annotated[str, Depends(get_tenant)]
