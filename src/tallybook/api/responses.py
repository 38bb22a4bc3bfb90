"""Fast JSON responses (orjson). Decimals are rendered as plain strings, never floats."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from tallybook.documents.json_format import dumps as dumps
from tallybook.documents.json_format import iso as iso


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
