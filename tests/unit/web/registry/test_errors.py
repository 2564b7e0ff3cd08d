"""The /v2 error body: one renderer, which never fails on what an error echoes."""

from __future__ import annotations

import json

from cargohold.oci.errors import ManifestInvalid
from cargohold.web.registry.errors import render


def test_an_error_echoing_text_utf8_cannot_hold_is_rendered_with_replacement_characters() -> None:
    error = ManifestInvalid("bad \ud800", detail={"mediaType": "x\udfff", "n": float("nan")})

    response = render(error)

    assert response.status_code == 400
    body = json.loads(bytes(response.body).decode("utf-8"))
    assert body == {
        "errors": [
            {
                "code": "MANIFEST_INVALID",
                "message": "bad \ufffd",
                "detail": {"mediaType": "x\ufffd", "n": "nan"},
            }
        ]
    }
