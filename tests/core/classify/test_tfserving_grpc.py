"""gRPC needs the optional `tensorflow-serving-api` extra. Without it, choosing the
protocol is a configuration error with the fix in the message; the tensor decoding is
plain Python and is tested here either way."""

from __future__ import annotations

import importlib.util
import struct
import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest

from triage_core.classify.tfserving import TFServingClassifier
from triage_core.classify.tfserving.grpc import (
    DT_FLOAT,
    DT_INT64,
    DT_STRING,
    GRPC_EXTRA_HINT,
    GrpcTransport,
    build_predict_request,
    tensor_to_list,
)
from triage_core.classify.tfserving.protocol import parse_predict_response
from triage_core.config import TFServingConfig
from triage_core.errors import BackendUnavailable, ConfigError

HAS_EXTRA = importlib.util.find_spec("tensorflow_serving") is not None


@pytest.mark.skipif(HAS_EXTRA, reason="tensorflow_serving is installed")
def test_missing_extra_is_a_config_error_at_construction() -> None:
    with pytest.raises(ConfigError) as info:
        TFServingClassifier(TFServingConfig(protocol="grpc"))
    assert str(info.value) == (
        "protocol grpc needs the optional extra: pip install 'email-triage[grpc]'"
    )
    assert str(info.value) == GRPC_EXTRA_HINT


def test_unknown_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown protocol 'http2'"):
        TFServingClassifier(TFServingConfig(protocol="http2"))


@dataclass
class Dim:
    size: int


@dataclass
class Shape:
    dim: list[Dim]


@dataclass
class FakeTensor:
    """Duck-types the TensorProto fields tensor_to_list reads."""

    dtype: int
    dims: list[int]
    float_val: list[float] = field(default_factory=list)
    double_val: list[float] = field(default_factory=list)
    int_val: list[int] = field(default_factory=list)
    int64_val: list[int] = field(default_factory=list)
    string_val: list[bytes] = field(default_factory=list)
    tensor_content: bytes = b""

    @property
    def tensor_shape(self) -> Shape:
        return Shape([Dim(d) for d in self.dims])


def test_float_matrix_from_float_val() -> None:
    tensor = FakeTensor(DT_FLOAT, [2, 3], float_val=[0.5, 0.25, 0.25, 0.0, 0.0, 1.0])
    assert tensor_to_list(tensor) == [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]


def test_float_matrix_from_packed_tensor_content() -> None:
    packed = struct.pack("<4f", 0.5, 0.5, 0.25, 0.75)
    assert tensor_to_list(FakeTensor(DT_FLOAT, [2, 2], tensor_content=packed)) == [
        [0.5, 0.5],
        [0.25, 0.75],
    ]


def test_string_classes_and_int64_ids() -> None:
    classes = FakeTensor(DT_STRING, [1, 2], string_val=[b"spam", b"billing"])
    assert tensor_to_list(classes) == [["spam", "billing"]]
    assert tensor_to_list(FakeTensor(DT_INT64, [3], int64_val=[2, 0, 1])) == [2, 0, 1]


def test_decoded_tensors_feed_the_shared_parser() -> None:
    outputs = {
        "scores": tensor_to_list(FakeTensor(DT_FLOAT, [1, 2], float_val=[0.25, 0.75])),
        "classes": tensor_to_list(FakeTensor(DT_STRING, [1, 2], string_val=[b"spam", b"incident"])),
    }
    rows = parse_predict_response({"outputs": outputs}, labels=("incident", "spam"), count=1)
    assert rows == [{"spam": 0.25, "incident": 0.75}]


@pytest.mark.skipif(
    not HAS_EXTRA, reason="needs tensorflow_serving (pip install 'email-triage[grpc]')"
)
def test_predict_request_carries_a_string_tensor() -> None:  # pragma: no cover - extra only
    from triage_core.classify.tfserving.grpc import _Apis

    request: Any = build_predict_request(
        _Apis(), ["a", "é"], model_name="m", signature_name="serving_default", input_name="text"
    )
    assert request.model_spec.name == "m"
    assert request.model_spec.signature_name == "serving_default"
    tensor = request.inputs["text"]
    assert tensor.dtype == DT_STRING
    assert [d.size for d in tensor.tensor_shape.dim] == [2]
    assert list(tensor.string_val) == [b"a", "é".encode()]


# --- the transport, with the generated modules replaced by fakes --------------------------


class FakeStatusCode:
    UNAVAILABLE = type("Code", (), {"name": "UNAVAILABLE"})()
    DEADLINE_EXCEEDED = type("Code", (), {"name": "DEADLINE_EXCEEDED"})()
    INVALID_ARGUMENT = type("Code", (), {"name": "INVALID_ARGUMENT"})()


class FakeRpcError(Exception):
    def __init__(self, code: Any, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> Any:
        return self._code

    def details(self) -> str:
        return self._details


class FakeModelSpec:
    name = ""
    signature_name = ""


class FakeDims(list[Any]):
    def add(self) -> Any:  # RepeatedCompositeField.add()
        self.append(SimpleNamespace(size=0))
        return self[-1]


class FakeInputTensor:
    def __init__(self) -> None:
        self.dtype = 0
        self.tensor_shape = SimpleNamespace(dim=FakeDims())
        self.string_val: list[bytes] = []


class FakePredictRequest:
    """Like the protobuf message: `inputs[name]` creates the entry on first access."""

    def __init__(self) -> None:
        self.model_spec = FakeModelSpec()
        self.inputs: defaultdict[str, FakeInputTensor] = defaultdict(FakeInputTensor)


def fake_apis(replies: list[Any]) -> Any:
    """`_Apis` stand-in whose Predict stub pops `replies` (an exception or a response)."""
    sent: list[Any] = []

    def predict(request: Any, timeout: float) -> Any:
        sent.append((request, timeout))
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    stub = SimpleNamespace(Predict=predict)
    grpc = SimpleNamespace(RpcError=FakeRpcError, StatusCode=FakeStatusCode)
    return SimpleNamespace(
        grpc=grpc,
        predict_pb2=SimpleNamespace(PredictRequest=FakePredictRequest),
        prediction_service=SimpleNamespace(PredictionServiceStub=lambda channel: stub),
        sent=sent,
    )


def transport(apis: Any, **kw: Any) -> GrpcTransport:
    t = object.__new__(GrpcTransport)  # skips the installed-extra check
    t._config = replace(TFServingConfig(protocol="grpc", timeout_s=1.5), **kw)
    t._apis, t._channel = apis, object()
    t._lock = threading.Lock()
    return t


def test_grpc_predict_flow_with_fakes() -> None:
    response = SimpleNamespace(
        outputs={
            "scores": FakeTensor(DT_FLOAT, [1, 2], float_val=[0.25, 0.75]),
            "classes": FakeTensor(DT_STRING, [1, 2], string_val=[b"spam", b"billing"]),
        }
    )
    apis = fake_apis([FakeRpcError(FakeStatusCode.UNAVAILABLE, "connecting"), response])
    t = transport(apis, retries=1)
    data = t.predict(["subject\n\nbody"])
    assert data == {"outputs": {"scores": [[0.25, 0.75]], "classes": [["spam", "billing"]]}}
    request, timeout = apis.sent[-1]
    assert len(apis.sent) == 2  # UNAVAILABLE was retried once
    assert timeout == 1.5
    assert (request.model_spec.name, request.model_spec.signature_name) == (
        "email-classifier",
        "serving_default",
    )
    tensor = request.inputs["text"]
    assert (tensor.dtype, [d.size for d in tensor.tensor_shape.dim], tensor.string_val) == (
        DT_STRING,
        [1],
        [b"subject\n\nbody"],
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            FakeRpcError(FakeStatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
            "timed out after 1.5s",
        ),
        (
            FakeRpcError(FakeStatusCode.INVALID_ARGUMENT, "bad\ninput"),
            "gRPC INVALID_ARGUMENT: bad input",
        ),
        (
            FakeRpcError(FakeStatusCode.UNAVAILABLE, "failed to connect"),
            "gRPC UNAVAILABLE: failed to connect",
        ),
    ],
)
def test_grpc_errors_become_one_line_reasons(error: Exception, reason: str) -> None:
    t = transport(fake_apis([error]), retries=0)
    with pytest.raises(BackendUnavailable) as info:
        t.predict(["x"])
    assert str(info.value) == f"tfserving at 127.0.0.1:8500: {reason}"
