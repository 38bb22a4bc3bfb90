"""The console's list pages, one home for what they share: a filtered page of rows with
links to the next and first pages and to the CSV download, the filters' error shown on the
page (with the API's status for it), and the CSV read page by page up to a row cap.

Each list module (``audit``, ``invoices``, ``customers``, ``operations``) keeps its own
filters (``search``) and columns; the paging and error handling are here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import web
from tallybook.domain.errors import TallybookError
from tallybook.services.pagination import Page

T = TypeVar("T")
CSV_PAGE = 1000  # rows read at a time for a CSV download


def list_page(
    request: Request,
    container: Container,
    who: web.Operator,
    *,
    template: str,
    path: str,
    active: str,
    filters: Mapping[str, str | None],
    cursor: str | None,
    read: Callable[[int, str | None], Page[T]],
    row: Callable[[T], Any] = lambda item: item,
    error_status: int | None = None,
    **context: Any,
) -> Response:
    """``template`` with ``rows`` (``row`` of each item of the page ``read(limit, cursor)``
    returns, ``web.PAGE_SIZE`` at most), ``next_url`` and ``first_url`` (``path`` with the
    ``filters``), ``csv_url`` (``path`` + ``.csv`` with the filters), ``filters`` and
    ``context``; when
    ``read`` raises a TallybookError (bad filters), the page with no rows, the error's
    message and its HTTP status (``error_status``, else ``api.errors.status_for``)."""
    try:
        page = read(web.PAGE_SIZE, cursor)
    except TallybookError as error:
        return web.render(
            template, request=request, container=container, who=who, active=active,
            status=error_status or status_for(error), error=error.message, rows=[],
            filters=filters, **context,
        )  # fmt: skip
    return web.render(
        template,
        request=request,
        container=container,
        who=who,
        active=active,
        rows=[row(item) for item in page.items],
        filters=filters,
        next_url=page.next_cursor and web.link(path, **filters, cursor=page.next_cursor),
        first_url=cursor and web.link(path, **filters),
        csv_url=web.link(f"{path}.csv", **filters),
        **context,
    )


def csv_rows(
    read: Callable[[int, str | None], Page[T]],
    row: Callable[[T], list[Any]],
    *,
    max_rows: int,
) -> Iterator[list[Any]]:
    """``row`` of every item ``read(limit, cursor)`` gives, page after page
    (``CSV_PAGE`` a page), until the last page or once ``max_rows`` rows are written
    (checked between pages). The first page is read at once, so bad filters raise
    their 4xx before the download starts."""
    first = read(CSV_PAGE, None)

    def rows() -> Iterator[list[Any]]:
        page, count = first, 0
        while True:
            for item in page.items:
                count += 1
                yield row(item)
            if page.next_cursor is None or count >= max_rows:
                return
            page = read(CSV_PAGE, page.next_cursor)

    return rows()
