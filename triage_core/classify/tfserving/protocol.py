"""TF Serving's wire shapes, decoded without any I/O.

Kept apart from the transports so the REST and gRPC clients share one reading of a predict
response and one notion of "malformed", and so every documented shape can be tested
without a server. Documented shapes (tensorflow.org/tfx/serving/api_rest):

* row format:       {"predictions": [[p, ...], ...]}               scores in `labels` order
                    {"predictions": [{"scores": [...], "classes": [...]}, ...]}
* columnar format:  {"outputs": [[p, ...], ...]}
                    {"outputs": {"scores": [[...], ...], "classes": [[...], ...]}}
* model status:     {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                      "status": {"error_code": "OK", "error_message": ""}}]}

KServe's v1 protocol answers the status probe with {"name": ..., "ready": true}; that shape
is accepted too, since it is what the test server and KServe deployments speak.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from triage_core.classify.base import Prediction
from triage_core.classify.decision import decide
from triage_core.message import Email

# Output names a classification signature uses for its probabilities and its class names.
SCORE_KEYS = ("scores", "probabilities", "probs")
CLASS_KEYS = ("classes", "labels")


class MalformedResponseError(ValueError):
    """The server answered, but not in any shape we can read."""


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What the model server says about the served model (for health checks and the
    runbook's "is the model server up?" step)."""

    available: bool
    version: str | None
    state: str
    error: str | None = None


def request_text(email: Email, *, max_chars: int) -> str:
    """The text one email is sent as. Sliced before joining so a 1 MB body never gets
    copied whole."""
    subject = email.subject[:max_chars]
    room = max(0, max_chars - len(subject) - 2)
    return f"{subject}\n\n{email.newest[:room]}"


def encode_predict_body(texts: Sequence[str], *, signature_name: str, input_name: str) -> bytes:
    body = {
        "signature_name": signature_name,
        "instances": [{input_name: text} for text in texts],
    }
    # Lone surrogates (from undecodable mail bytes) are not valid UTF-8: replace them
    # rather than fail the whole batch.
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")


def parse_predict_response(
    data: Any, *, labels: Sequence[str], count: int
) -> list[dict[str, float]]:
    """One probability distribution per instance, keyed by label, in request order."""
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"expected a JSON object, got {_kind(data)}")
    if "error" in data:
        raise MalformedResponseError(f"server error: {_one_line(str(data['error']))}")
    if "predictions" in data:
        rows = _rows_from_row_format(data["predictions"])
    elif "outputs" in data:
        rows = _rows_from_columnar_format(data["outputs"])
    else:
        keys = ", ".join(sorted(str(k) for k in data)[:5]) or "none"
        raise MalformedResponseError(f"no 'predictions' or 'outputs' (keys: {keys})")
    if len(rows) != count:
        raise MalformedResponseError(f"{len(rows)} predictions for {count} instances")
    return [_distribution(scores, classes, labels) for scores, classes in rows]


def to_prediction(distribution: Mapping[str, float], *, backend: str) -> Prediction:
    """The shared decision rule (`classify.decision`), so a served model and the embedded
    one give the same category for the same scores."""
    category, confidence = decide(distribution)
    return Prediction(category, confidence, backend, distribution)


def parse_model_status(data: Any) -> ModelStatus:
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"expected a JSON object, got {_kind(data)}")
    if "model_version_status" in data:
        return _tf_serving_status(data["model_version_status"])
    if "ready" in data:
        ready = data["ready"]
        if not isinstance(ready, bool):
            raise MalformedResponseError(f"'ready' is not a boolean: {ready!r}")
        return ModelStatus(available=ready, version=None, state="READY" if ready else "NOT_READY")
    raise MalformedResponseError("no 'model_version_status' in status response")


def error_excerpt(body: bytes, *, limit: int = 200) -> str:
    """The readable part of an error response: TF Serving's {"error": "..."} message, or
    the start of whatever else came back, on one line."""
    text = body[: limit * 4].decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except ValueError:
        pass
    else:
        if isinstance(data, Mapping):
            for key in ("error", "detail", "message"):
                if key in data:
                    text = str(data[key])
                    break
    return _one_line(text, limit=limit) or "(empty body)"


def _one_line(text: str, *, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


_Row = tuple[Any, Any]  # (scores, classes or None)


def _rows_from_row_format(predictions: Any) -> list[_Row]:
    if not isinstance(predictions, list):
        raise MalformedResponseError(f"'predictions' is {_kind(predictions)}, not a list")
    rows: list[_Row] = []
    for item in predictions:
        if isinstance(item, Mapping):
            rows.append((_pick(item, SCORE_KEYS, "scores"), _pick_optional(item, CLASS_KEYS)))
        else:
            rows.append((item, None))
    return rows


def _rows_from_columnar_format(outputs: Any) -> list[_Row]:
    if isinstance(outputs, list):
        return [(scores, None) for scores in outputs]
    if not isinstance(outputs, Mapping):
        raise MalformedResponseError(f"'outputs' is {_kind(outputs)}, not a list or object")
    if len(outputs) == 1 and not any(k in outputs for k in CLASS_KEYS):
        # A single named output is the scores, whatever the signature calls it.
        score_column = next(iter(outputs.values()))
    else:
        score_column = _pick(outputs, SCORE_KEYS, "scores")
    class_column = _pick_optional(outputs, CLASS_KEYS)
    if not isinstance(score_column, list):
        raise MalformedResponseError(f"scores output is {_kind(score_column)}, not a list")
    if class_column is None:
        return [(scores, None) for scores in score_column]
    if not isinstance(class_column, list):
        raise MalformedResponseError(f"classes output is {_kind(class_column)}, not a list")
    if class_column and not isinstance(class_column[0], list):
        # One class vector shared by every instance (a constant output of the signature).
        return [(scores, class_column) for scores in score_column]
    if len(class_column) != len(score_column):
        raise MalformedResponseError(
            f"{len(class_column)} class rows for {len(score_column)} score rows"
        )
    return list(zip(score_column, class_column, strict=True))


def _pick(item: Mapping[str, Any], keys: Sequence[str], what: str) -> Any:
    for key in keys:
        if key in item:
            return item[key]
    found = ", ".join(sorted(str(k) for k in item)[:5]) or "none"
    raise MalformedResponseError(f"no {what} output (keys: {found})")


def _pick_optional(item: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in item:
            return item[key]
    return None


def _distribution(scores: Any, classes: Any, labels: Sequence[str]) -> dict[str, float]:
    if not isinstance(scores, list) or not scores:
        raise MalformedResponseError(f"scores must be a non-empty list, got {_kind(scores)}")
    values = [_number(v) for v in scores]
    if classes is None:
        if len(values) != len(labels):
            raise MalformedResponseError(
                f"{len(values)} scores for {len(labels)} configured labels "
                "(set classifier.tfserving.labels to the model's taxonomy)"
            )
        names: Sequence[str] = labels
    else:
        if not isinstance(classes, list) or len(classes) != len(values):
            raise MalformedResponseError(
                f"{len(values)} scores but classes is {_kind(classes)}"
                + (f" of {len(classes)}" if isinstance(classes, list) else "")
            )
        names = [_class_name(c, labels) for c in classes]
        if len(set(names)) != len(names):
            raise MalformedResponseError("duplicate class names")
    probs = _normalise(values)
    return dict(zip(names, probs, strict=True))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponseError(f"score is {_kind(value)}, not a number")
    f = float(value)
    if not math.isfinite(f):
        raise MalformedResponseError(f"score is {f}")
    return f


def _class_name(value: Any, labels: Sequence[str]) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("b64"), str):
        # Binary string tensors come back base64-wrapped in TF Serving's JSON.
        try:
            value = base64.b64decode(value["b64"], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise MalformedResponseError("undecodable b64 class name") from exc
    if isinstance(value, bool):
        raise MalformedResponseError("class is a boolean")
    if isinstance(value, int):
        # Class ids index the configured taxonomy.
        if not 0 <= value < len(labels):
            raise MalformedResponseError(f"class id {value} outside the {len(labels)} labels")
        return labels[value]
    if not isinstance(value, str):
        raise MalformedResponseError(f"class is {_kind(value)}, not a string")
    if value not in labels:
        raise MalformedResponseError(
            f"class {_one_line(value, limit=40)!r} is not a configured label "
            "(set classifier.tfserving.labels)"
        )
    return value


def _normalise(values: list[float]) -> list[float]:
    """Probabilities in, probabilities out (renormalised: sigmoid heads do not sum to 1);
    anything outside [0, 1] is taken as logits and soft-maxed."""
    if all(0.0 <= v <= 1.0 for v in values):
        total = math.fsum(values)
        if total <= 0.0:
            raise MalformedResponseError("all scores are zero")
        return [v / total for v in values]
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = math.fsum(exps)
    return [e / total for e in exps]


def _tf_serving_status(versions: Any) -> ModelStatus:
    if not isinstance(versions, list):
        raise MalformedResponseError(f"'model_version_status' is {_kind(versions)}, not a list")
    if not versions:
        return ModelStatus(available=False, version=None, state="", error="no model version")
    entries = []
    for entry in versions:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("state"), str):
            raise MalformedResponseError("model version entry without a state")
        entries.append(entry)

    def rank(entry: Mapping[str, Any]) -> tuple[bool, int]:
        version = str(entry.get("version", ""))
        return entry["state"] == "AVAILABLE", int(version) if version.isdigit() else -1

    # The version that serves: the newest AVAILABLE one, else the newest of any state.
    best = max(entries, key=rank)
    status = best.get("status")
    error = None
    if isinstance(status, Mapping):
        code = status.get("error_code", "OK")
        if code not in ("OK", 0, None, ""):
            message = str(status.get("error_message") or "")
            error = _one_line(f"{code}: {message}" if message else str(code))
    version = best.get("version")
    return ModelStatus(
        available=best["state"] == "AVAILABLE",
        version=None if version is None else str(version),
        state=best["state"],
        error=error,
    )
