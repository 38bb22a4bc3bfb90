"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from tallybook.adapters.store.failures import RETRY_AFTER_SECONDS, store_error
from tallybook.adapters.store.migrate import is_current
from tallybook.adapters.store.readiness import check_writable
from tallybook.api.deps import ContainerDep
from tallybook.api.responses import JsonResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Process is up")
async def healthz() -> JsonResponse:  # on the loop: no threadpool hop, answers while busy
    return JsonResponse({"status": "ok"})


@router.get("/readyz", summary="Database reachable and writable, migrations current")
def readyz(container: ContainerDep) -> JsonResponse:
    """200 ``ready`` when the store grants a write (rolled back) and migrations are
    current; 503 with ``Retry-After`` and a ``reason`` otherwise."""
    try:
        current = is_current(container.engine)
        if current:
            with container.ingest.store.quiet():  # SQLite: between this process's writes
                check_writable(container.engine)
    except Exception as exc:  # any store failure means not ready
        domain = store_error(exc)
        reason = domain.code if domain is not None else type(exc).__name__
        return _unavailable(reason, domain.message if domain is not None else str(exc))
    if not current:
        return _unavailable("migrations_pending", "the database needs migrating")
    return JsonResponse({"status": "ready"})


def _unavailable(reason: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"status": "unavailable", "reason": reason, "message": message[:300]},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
def metrics(request: Request) -> Response:
    response: Response = request.app.state.metrics.render()
    return response
