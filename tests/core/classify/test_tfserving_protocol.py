"""Every documented TF Serving response shape, decoded without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from triage_core.classify.tfserving.protocol import (
    MalformedResponseError,
    ModelStatus,
    encode_predict_body,
    error_excerpt,
    parse_model_status,
    parse_predict_response,
    request_text,
    to_prediction,
)
from triage_core.message import Email

LABELS = ("incident", "billing", "spam")


def parse(data: Any, count: int = 1) -> list[dict[str, float]]:
    return parse_predict_response(data, labels=LABELS, count=count)


def test_row_format_score_vectors_follow_the_configured_labels() -> None:
    rows = parse({"predictions": [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]}, count=2)
    assert rows == [
        {"incident": 0.7, "billing": 0.2, "spam": 0.1},
        {"incident": 0.1, "billing": 0.1, "spam": 0.8},
    ]


def test_row_format_objects_with_classes() -> None:
    data = {"predictions": [{"scores": [0.25, 0.75], "classes": ["spam", "billing"]}]}
    assert parse(data) == [{"spam": 0.25, "billing": 0.75}]


def test_row_format_objects_with_labels_key_and_b64_and_ids() -> None:
    data = {
        "predictions": [
            {"probabilities": [0.5, 0.5], "labels": [{"b64": "c3BhbQ=="}, "incident"]},
            {"scores": [0.9, 0.1], "classes": [1, 2]},
        ]
    }
    assert parse(data, count=2) == [
        {"spam": 0.5, "incident": 0.5},
        {"billing": 0.9, "spam": 0.1},
    ]


def test_row_format_objects_without_classes_follow_the_labels() -> None:
    assert parse({"predictions": [{"scores": [0.0, 1.0, 0.0]}]}) == [
        {"incident": 0.0, "billing": 1.0, "spam": 0.0}
    ]


def test_columnar_list() -> None:
    assert parse({"outputs": [[0.2, 0.3, 0.5]]}) == [{"incident": 0.2, "billing": 0.3, "spam": 0.5}]


def test_columnar_named_outputs() -> None:
    data = {"outputs": {"scores": [[0.6, 0.4], [0.3, 0.7]], "classes": [["spam", "incident"]] * 2}}
    assert parse(data, count=2) == [
        {"spam": 0.6, "incident": 0.4},
        {"spam": 0.3, "incident": 0.7},
    ]


def test_columnar_single_output_of_any_name() -> None:
    assert parse({"outputs": {"dense_3": [[1.0, 0.0, 0.0]]}}) == [
        {"incident": 1.0, "billing": 0.0, "spam": 0.0}
    ]


def test_columnar_shared_class_vector() -> None:
    data = {"outputs": {"scores": [[0.5, 0.5]], "classes": ["spam", "billing"]}}
    assert parse(data) == [{"spam": 0.5, "billing": 0.5}]


def test_unnormalised_probabilities_are_rescaled() -> None:
    (row,) = parse({"predictions": [[0.5, 0.5, 1.0]]})
    assert row == {"incident": 0.25, "billing": 0.25, "spam": 0.5}


def test_logits_are_softmaxed() -> None:
    (row,) = parse({"predictions": [[2.0, -1.0, 0.5]]})
    assert sum(row.values()) == pytest.approx(1.0)
    assert max(row, key=row.__getitem__) == "incident"
    assert row["incident"] == pytest.approx(0.7856, abs=1e-4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a JSON object, got list"),
        (
            {"error": "Servable not found\nfor request"},
            "server error: Servable not found for request",
        ),
        ({"result": []}, "no 'predictions' or 'outputs' (keys: result)"),
        ({"predictions": {"a": 1}}, "'predictions' is dict, not a list"),
        ({"predictions": [[0.5, 0.5]]}, "2 scores for 3 configured labels"),
        ({"predictions": [[0.5, "x", 0.5]]}, "score is str, not a number"),
        ({"predictions": [[0.5, True, 0.5]]}, "score is bool, not a number"),
        ({"predictions": [[0.0, 0.0, 0.0]]}, "all scores are zero"),
        ({"predictions": [[]]}, "scores must be a non-empty list"),
        (
            {"predictions": [{"scores": [1.0], "classes": ["ham"]}]},
            "class 'ham' is not a configured label",
        ),
        ({"predictions": [{"scores": [1.0], "classes": [7]}]}, "class id 7 outside the 3 labels"),
        (
            {"predictions": [{"scores": [0.5, 0.5], "classes": ["spam"]}]},
            "2 scores but classes is list of 1",
        ),
        (
            {"predictions": [{"scores": [0.5, 0.5], "classes": ["spam", "spam"]}]},
            "duplicate class names",
        ),
        ({"predictions": [{"logits": [1.0]}]}, "no scores output (keys: logits)"),
        ({"outputs": "x"}, "'outputs' is str, not a list or object"),
        ({"predictions": [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]}, "2 predictions for 1 instances"),
    ],
)
def test_malformed_shapes_say_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(MalformedResponseError) as info:
        parse(data)
    assert message in str(info.value)


def test_nan_is_malformed() -> None:
    with pytest.raises(MalformedResponseError, match="score is nan"):
        parse(json.loads('{"predictions": [[NaN, 0.5, 0.5]]}'))


def test_to_prediction_takes_the_argmax_and_the_first_of_ties() -> None:
    p = to_prediction({"incident": 0.4, "billing": 0.4, "spam": 0.2}, backend="tfserving")
    assert (p.category, p.confidence, p.backend) == ("incident", 0.4, "tfserving")


def test_request_body_is_the_documented_shape() -> None:
    body = encode_predict_body(["a\n\nb", "é"], signature_name="serving_default", input_name="text")
    assert json.loads(body) == {
        "signature_name": "serving_default",
        "instances": [{"text": "a\n\nb"}, {"text": "é"}],
    }


def test_request_body_survives_lone_surrogates() -> None:
    body = encode_predict_body(["bad \udcff byte"], signature_name="s", input_name="text")
    assert json.loads(body)["instances"] == [{"text": "bad ? byte"}]


def test_request_text_is_subject_blank_line_newest_and_bounded() -> None:
    email = Email(subject="Server down", newest="x" * 100)
    assert request_text(email, max_chars=1000) == "Server down\n\n" + "x" * 100
    assert request_text(email, max_chars=20) == "Server down\n\n" + "x" * 7
    assert len(request_text(Email(subject="s" * 50), max_chars=20)) == 22


def test_tf_serving_status_available() -> None:
    data = {
        "model_version_status": [
            {"version": "2", "state": "END", "status": {"error_code": "OK", "error_message": ""}},
            {
                "version": "3",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }
    assert parse_model_status(data) == ModelStatus(True, "3", "AVAILABLE", None)


def test_tf_serving_status_loading_failed() -> None:
    data = {
        "model_version_status": [
            {
                "version": "4",
                "state": "END",
                "status": {"error_code": "NOT_FOUND", "error_message": "Could not find base path"},
            }
        ]
    }
    assert parse_model_status(data) == ModelStatus(
        False, "4", "END", "NOT_FOUND: Could not find base path"
    )


def test_kserve_status_shape() -> None:
    assert parse_model_status({"name": "m", "ready": True}) == ModelStatus(True, None, "READY")
    assert parse_model_status({"name": "m", "ready": False}) == ModelStatus(
        False, None, "NOT_READY"
    )


def test_status_without_versions_is_unavailable() -> None:
    assert parse_model_status({"model_version_status": []}) == ModelStatus(
        False, None, "", "no model version"
    )


def test_status_garbage_is_malformed() -> None:
    with pytest.raises(MalformedResponseError):
        parse_model_status({"hello": 1})


def test_error_excerpt_prefers_the_error_message_and_stays_on_one_line() -> None:
    assert (
        error_excerpt(b'{"error": "Tensor name: x has no\\nshape"}')
        == "Tensor name: x has no shape"
    )
    assert error_excerpt(b"<html>\n<b>Bad Gateway</b></html>") == "<html> <b>Bad Gateway</b></html>"
    assert error_excerpt(b"") == "(empty body)"
    assert len(error_excerpt(b"x" * 1000)) == 200
