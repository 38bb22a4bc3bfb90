"""``/v1/invoices/{id}/credit-notes``: credit notes of final invoices (built in step 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["invoices"])
