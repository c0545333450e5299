"""A KServe model server (an independent implementation of TF Serving's v1 REST predict
protocol), run as a subprocess by test_tfserving_rest.py.

The model is a keyword toy: what matters is that a real server, not our own code, parses
our requests and produces the responses.
"""

from __future__ import annotations

import os
from typing import Any

import kserve

from triage_core.result import DEFAULT_CATEGORIES

MODEL_NAME = "email-classifier"
# Keyword -> the category it makes likely; the rest of the mass is spread evenly.
KEYWORDS = {"outage": "incident", "invoice": "billing", "meeting": "meeting"}


def probabilities(text: str) -> list[float]:
    lowered = text.lower()
    hit = next((cat for word, cat in KEYWORDS.items() if word in lowered), "question")
    rest = 0.2 / (len(DEFAULT_CATEGORIES) - 1)
    return [0.8 if label == hit else rest for label in DEFAULT_CATEGORIES]


class KeywordModel(kserve.Model):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.load()

    async def predict(
        self,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if payload.get("signature_name") != "serving_default":
            raise kserve.errors.InvalidInput("unexpected signature_name")
        return {"predictions": [probabilities(inst["text"]) for inst in payload["instances"]]}


if __name__ == "__main__":
    port = int(os.environ["KSERVE_TEST_HTTP_PORT"])
    server = kserve.ModelServer(
        http_port=port, enable_grpc=False, enable_latency_logging=False, workers=1
    )
    server.start([KeywordModel(MODEL_NAME)])
