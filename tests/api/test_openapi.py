"""The OpenAPI document footfall serves at /api/v1/openapi.json is valid OpenAPI 3.1
(checked by openapi-spec-validator); the Rust test `api::every_query_route_…` checks that it
matches the server's routes."""

import json
from pathlib import Path

from openapi_spec_validator import validate

DOCUMENT = Path(__file__).resolve().parents[2] / "crates/footfall/src/openapi.json"


def test_the_openapi_document_is_valid():
    document = json.loads(DOCUMENT.read_text())
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/funnel" in document["paths"]
