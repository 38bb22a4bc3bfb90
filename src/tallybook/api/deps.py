"""Request dependencies shared by the API routes and the portal: the container, the
caller's tenant, the preview service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tallybook.api.access import check_access
from tallybook.api.auth import bearer_key
from tallybook.bootstrap import Container
from tallybook.services.billing.previews import PreviewService


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_tenant(request: Request, container: Annotated[Container, Depends(get_container)]) -> str:
    """The tenant id of the request's API key; every query is scoped to it. The key's
    roles are checked against the route here (``api.access``: 403 ``forbidden``), and
    the key is kept on ``request.state`` as the audit actor (``api.audit_hook``)."""
    identity = container.tenants.identify(bearer_key(request))
    request.state.tenant = identity.tenant_id
    request.state.key_id = identity.key_id
    request.state.key_name = identity.name
    check_access(request, identity)
    return identity.tenant_id


def get_previews(request: Request) -> PreviewService:
    """The container's preview service."""
    container: Container = request.app.state.container
    return container.previews


ContainerDep = Annotated[Container, Depends(get_container)]
TenantDep = Annotated[str, Depends(get_tenant)]
PreviewsDep = Annotated[PreviewService, Depends(get_previews)]
