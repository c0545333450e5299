"""The published OpenAPI document describes what the API really does."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def schema(offline_client: TestClient) -> dict[str, Any]:
    response = offline_client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_every_endpoint_is_published(schema: dict[str, Any]) -> None:
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations == {
        ("/v1/classify", "post"),
        ("/classify", "post"),
        ("/v1/triage", "post"),
        ("/v1/emails", "post"),
        ("/v1/emails/{id}", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    }


@pytest.mark.parametrize("path", ["/v1/classify", "/classify", "/v1/triage", "/v1/emails"])
def test_email_endpoints_take_json_or_rfc822(schema: dict[str, Any], path: str) -> None:
    operation = schema["paths"][path]["post"]
    content = operation["requestBody"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/EmailRequest"}
    assert content["message/rfc822"]["schema"] == {"type": "string", "format": "binary"}
    for status in ("401", "403", "413", "415", "422", "429", "500"):
        ref = operation["responses"][status]["content"]["application/json"]["schema"]
        assert ref == {"$ref": "#/components/schemas/ErrorResponse"}, status
    assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}, {}]


def test_request_model_is_in_the_components(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    request = components["EmailRequest"]
    assert request["required"] == ["email"]
    assert request["additionalProperties"] is False
    email = components["EmailIn"]
    assert email["additionalProperties"] is False
    assert set(email["properties"]) == {
        "subject",
        "body",
        "html",
        "from",
        "to",
        "cc",
        "reply_to",
        "date",
        "message_id",
        "in_reply_to",
        "references",
        "headers",
        "attachments",
    }
    assert "AttachmentIn" in components
    # FastAPI's own 422 shape is never answered, so it is not published
    assert "HTTPValidationError" not in components


def test_enqueue_documents_202_and_the_idempotent_200(schema: dict[str, Any]) -> None:
    responses = schema["paths"]["/v1/emails"]["post"]["responses"]
    assert set(responses) >= {"200", "202", "503"}
    assert "already enqueued" in responses["200"]["description"]


def test_security_schemes(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"]["name"] == "X-API-Key"
    assert schemes["ApiKey"]["in"] == "header"
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert "security" not in schema["paths"]["/healthz"]["get"]
    assert "security" not in schema["paths"]["/readyz"]["get"]


def test_response_models(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert set(components["ClassifyResponse"]["properties"]) == {
        "message_id",
        "category",
        "confidence",
        "backend",
        "degraded",
    }
    assert set(components["EnqueueResponse"]["properties"]) == {"id", "status", "message_id"}
    triage = schema["paths"]["/v1/triage"]["post"]["responses"]["200"]
    assert triage["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TriageResponse"
    }
    assert "schema" in components["TriageResponse"]["properties"]
