"""The seller's logo (issue 16): upload, bad input, printing on the invoice's HTML page and
PDF (read back with poppler's ``pdfimages``), and a final invoice keeping the logo it was
finalized with after a new upload and a removal. Both stores."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from tallybook.domain.finance.logos import MAX_LOGO_BYTES, MAX_LOGO_SIDE
from tests.integration.test_finance_pdf import _finalized_invoice
from tests.integration.test_finance_taxes import CATALOG, RATES
from tests.integration.test_invoice_documents import pdf_text


def image_bytes(
    size: tuple[int, int] = (120, 40),
    color: tuple[int, int, int] = (200, 30, 30),
    kind: str = "PNG",
) -> bytes:
    """A real image made with Pillow (one colour)."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=kind)
    return out.getvalue()


def pdf_images(data: bytes) -> list[dict[str, str]]:
    """The images embedded in a PDF as poppler's ``pdfimages -list`` reports them."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(data)
        done = subprocess.run(
            ["pdfimages", "-list", str(path)], capture_output=True, check=True, text=True
        )
    lines = done.stdout.splitlines()
    heads = lines[0].split()
    return [dict(zip(heads, line.split(), strict=False)) for line in lines[2:] if line.strip()]


def put_logo(client: TestClient, data: bytes, media: str = "image/png") -> object:
    return client.put("/v1/tenant/logo", content=data, headers={"Content-Type": media})


def test_upload_read_and_remove(client: TestClient) -> None:
    assert client.get("/v1/tenant/logo").json()["error"]["code"] == "logo_not_found"
    png = image_bytes()
    answer = client.put("/v1/tenant/logo", content=png, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200, answer.text
    sha = hashlib.sha256(png).hexdigest()
    assert answer.json() == {
        "sha256": sha, "content_type": "image/png", "width": 120, "height": 40, "bytes": len(png),
    }  # fmt: skip
    got = client.get("/v1/tenant/logo")
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    assert client.get("/v1/tenant").json()["seller"]["logo"] == sha
    # a seller PATCH (even sending the logo field back) keeps the uploaded logo
    seller = client.get("/v1/tenant").json()["seller"] | {"legal_name": "Logo GmbH"}
    assert client.patch("/v1/tenant", json={"seller": seller}).status_code == 200
    assert client.get("/v1/tenant").json()["seller"]["logo"] == sha
    jpeg = image_bytes(kind="JPEG")
    assert (
        client.put("/v1/tenant/logo", content=jpeg, headers={"Content-Type": "image/jpeg"}).json()[
            "content_type"
        ]
        == "image/jpeg"
    )
    removed = client.delete("/v1/tenant/logo")
    assert removed.status_code == 200 and removed.json()["deleted"] is True
    assert client.get("/v1/tenant/logo").status_code == 404
    assert client.get("/v1/tenant").json()["seller"]["logo"] is None
    assert client.delete("/v1/tenant/logo").json()["error"]["code"] == "logo_not_found"
    audit = client.get("/v1/audit", params={"limit": 100}).json()["data"]
    actions = [entry["action"] for entry in audit]
    assert "PUT /v1/tenant/logo" in actions and "DELETE /v1/tenant/logo" in actions


def test_bad_logos_are_refused(client: TestClient) -> None:
    png = image_bytes()
    cases = [
        (b"GIF89a not really", "image/gif", 415, "unsupported_media_type"),
        (png, "text/plain", 415, "unsupported_media_type"),
        (png, "application/json", 415, "unsupported_media_type"),
        (b"this is not an image at all", "image/png", 422, "invalid_logo"),
        (b"", "image/png", 422, "invalid_logo"),
        (png[: len(png) // 2], "image/png", 422, "invalid_logo"),  # truncated
        (image_bytes(kind="JPEG"), "image/png", 422, "invalid_logo"),  # declared type is wrong
        (image_bytes((MAX_LOGO_SIDE + 1, 10)), "image/png", 422, "invalid_logo"),  # pixels
    ]
    for data, media, status, code in cases:
        answer = client.put("/v1/tenant/logo", content=data, headers={"Content-Type": media})
        assert answer.status_code == status, (media, answer.text)
        assert answer.json()["error"]["code"] == code, (media, answer.text)
    # larger than 256 KiB: random pixels do not compress
    noise = Image.frombytes("RGB", (400, 400), hashlib.shake_256(b"x").digest(400 * 400 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    assert len(out.getvalue()) > MAX_LOGO_BYTES
    answer = client.put(
        "/v1/tenant/logo", content=out.getvalue(), headers={"Content-Type": "image/png"}
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "logo_too_large"
    assert client.get("/v1/tenant/logo").status_code == 404  # nothing was stored


def test_the_invoice_prints_the_logo_and_keeps_it_after_a_new_upload(client: TestClient) -> None:
    red = image_bytes((120, 40), (200, 30, 30))
    assert (
        client.put(
            "/v1/tenant/logo", content=red, headers={"Content-Type": "image/png"}
        ).status_code
        == 200
    )
    invoice = _finalized_invoice(client)  # sets the seller again: the logo stays
    final = client.get(f"/v1/invoices/{invoice}").json()
    assert final["parties"]["seller"]["logo"] == hashlib.sha256(red).hexdigest()

    pdf = client.get(f"/v1/invoices/{invoice}.pdf").content
    images = pdf_images(pdf)
    assert [(i["width"], i["height"]) for i in images] == [("120", "40")]
    html = client.get(f"/v1/invoices/{invoice}.html").text
    assert f"data:image/png;base64,{base64.b64encode(red).decode()}" in html

    blue = image_bytes((300, 100), (20, 40, 220))
    assert (
        client.put(
            "/v1/tenant/logo", content=blue, headers={"Content-Type": "image/png"}
        ).status_code
        == 200
    )
    # the final invoice still shows the red logo it was finalized with
    html = client.get(f"/v1/invoices/{invoice}.html").text
    assert base64.b64encode(red).decode() in html and base64.b64encode(blue).decode() not in html
    assert [(i["width"], i["height"]) for i in pdf_images(
        client.get(f"/v1/invoices/{invoice}.pdf").content
    )] == [("120", "40")]  # fmt: skip
    assert client.delete("/v1/tenant/logo").status_code == 200
    assert [i["width"] for i in pdf_images(client.get(f"/v1/invoices/{invoice}.pdf").content)] == [
        "120"
    ]


def test_a_draft_shows_the_current_logo(client: TestClient) -> None:
    assert client.patch("/v1/tenant", json={"grace_seconds": 3600}).status_code == 200
    for rate in RATES:
        assert client.post("/v1/tax-rates", json=rate).status_code == 201
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    assert client.post("/v1/customers", json={"id": "d1", "currency": "EUR"}).status_code == 201
    sub = {"customer": "d1", "plan": "eu", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-01-01T00:10:00Z"}).status_code == 200
    )
    found = client.get("/v1/invoices", params={"customer": "d1"}).json()["data"]
    assert [i["status"] for i in found] == ["draft"]
    draft = found[0]["id"]
    assert pdf_images(client.get(f"/v1/invoices/{draft}.pdf").content) == []
    green = image_bytes((64, 64), (20, 200, 40))
    assert (
        client.put(
            "/v1/tenant/logo", content=green, headers={"Content-Type": "image/png"}
        ).status_code
        == 200
    )
    images = pdf_images(client.get(f"/v1/invoices/{draft}.pdf").content)
    assert [(i["width"], i["height"]) for i in images] == [("64", "64")]
    link = "https://example.com/brand/logo.png"
    seller = client.get("/v1/tenant").json()["seller"] | {"logo_url": link}
    assert client.patch("/v1/tenant", json={"seller": seller}).status_code == 200
    html = client.get(f"/v1/invoices/{draft}.html").text
    assert f'href="{link}"' in html  # logo_url is a link on the page, never fetched
    assert "data:image/png;base64," in html
    assert link not in pdf_text(client.get(f"/v1/invoices/{draft}.pdf").content)
