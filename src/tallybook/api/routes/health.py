"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import Response

from tallybook.adapters.store.migrate import is_current
from tallybook.api.deps import ContainerDep
from tallybook.api.responses import JsonResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Process is up")
def healthz() -> JsonResponse:
    return JsonResponse({"status": "ok"})


@router.get("/readyz", summary="Database reachable and migrations current")
def readyz(container: ContainerDep) -> JsonResponse:
    try:
        with container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = is_current(container.engine)
    except Exception as exc:  # any driver failure means not ready
        return JsonResponse(
            {"status": "unavailable", "reason": type(exc).__name__}, status_code=503
        )
    if not current:
        return JsonResponse(
            {"status": "unavailable", "reason": "migrations_pending"}, status_code=503
        )
    return JsonResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
def metrics(request: Request) -> Response:
    response: Response = request.app.state.metrics.render()
    return response
