"""The one place that maps errors to HTTP status codes and the error body.

Body: ``{"error": {"code": "snake_case", "message": "...", "details": {...}}}``.
Bad input is always a 4xx with a code; anything unexpected is a logged 500 whose body
hides internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tallybook.adapters.store.failures import DRIVER_ERRORS, RETRY_AFTER_SECONDS, store_error
from tallybook.api.responses import JsonResponse
from tallybook.domain import errors as e

log = logging.getLogger("tallybook.api")

STATUS: dict[type[e.TallybookError], int] = {
    e.ValidationError: 422,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.PayloadTooLarge: 413,
    e.StoreUnavailable: 503,
    e.ProviderUnavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


class HttpError(Exception):
    """An error of the HTTP layer itself (undeclared query parameter, wrong media type):
    a status, a code, a message and details, rendered like every other error."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def status_for(exc: e.TallybookError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status_code=status)


def _clean_validation(errors: Any) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        cleaned.append(
            {"location": loc, "message": err.get("msg", ""), "type": err.get("type", "")}
        )
    return cleaned


def retry_after(exc: e.TallybookError) -> dict[str, str]:
    """``Retry-After`` (seconds) for a 503: the store may be back by then."""
    if status_for(exc) != 503:
        return {}
    seconds = exc.details.get("retry_after", RETRY_AFTER_SECONDS)
    return {"Retry-After": str(seconds)}


def domain_response(request: Request, exc: e.TallybookError) -> JsonResponse:
    """The error body and status of a domain error (503s carry ``Retry-After``)."""
    status = status_for(exc)
    if status >= 500:
        log.warning(
            "%s on %s %s: %s",
            exc.code,
            request.method,
            request.url.path,
            exc.message,
            exc_info=exc.__cause__ or exc,
        )
    response = error_response(status, exc.code, exc.message, exc.details)
    response.headers.update(retry_after(exc))
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(e.TallybookError)
    async def _domain(request: Request, exc: e.TallybookError) -> JsonResponse:
        return domain_response(request, exc)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, _exc: RecursionError) -> JsonResponse:
        # Input is bounded before parsing (catalog documents, events); this is the net
        # for any nesting that still reaches a recursive parser or validator.
        log.warning("nesting too deep on %s %s", request.method, request.url.path)
        return error_response(422, "too_deep", "the request is nested too deeply to be processed")

    @app.exception_handler(HttpError)
    async def _http_layer(_request: Request, exc: HttpError) -> JsonResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JsonResponse:
        return error_response(
            422,
            "invalid_request",
            "request does not match the schema",
            {"errors": _clean_validation(exc.errors())},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JsonResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    async def _driver(request: Request, exc: Exception) -> JsonResponse:
        domain = store_error(exc)  # a driver error no adapter translated: still a 503
        if domain is not None:
            return domain_response(request, domain)
        return await _unexpected(request, exc)

    for driver_error in DRIVER_ERRORS:
        app.add_exception_handler(driver_error, _driver)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JsonResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "unexpected server error; it has been logged")
