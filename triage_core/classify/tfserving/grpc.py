"""TF Serving's gRPC API, through the optional `tensorflow-serving-api` extra.

The extra pulls in TensorFlow (hundreds of MB), so it is imported on first use only and a
missing install is a configuration error with the exact fix, found when the classifier is
built rather than on the first email. Responses are converted to the columnar JSON shape so
the REST and gRPC paths share one decoder (`protocol.parse_predict_response`).
"""

from __future__ import annotations

import array
import importlib
import importlib.util
import sys
import threading
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from triage_core.classify.tfserving.protocol import SCORE_KEYS, MalformedResponseError
from triage_core.config import TFServingConfig
from triage_core.errors import BackendUnavailable, ConfigError

GRPC_EXTRA_HINT = "protocol grpc needs the optional extra: pip install 'email-triage[grpc]'"
REQUIRED_MODULE = "tensorflow_serving"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
RETRY_BACKOFF_S = 0.05

# tensorflow/core/framework/types.proto
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_STRING, DT_INT64, DT_HALF = 1, 2, 3, 7, 9, 19
# array.array type codes for `tensor_content` (packed little-endian values).
_PACKED = {DT_FLOAT: "f", DT_DOUBLE: "d", DT_INT32: "i", DT_INT64: "q"}
# tensorflow_serving/apis/get_model_status.proto: ModelVersionStatus.State
_STATES = {0: "UNKNOWN", 10: "START", 20: "LOADING", 30: "AVAILABLE", 40: "UNLOADING", 50: "END"}


def extra_installed() -> bool:
    return importlib.util.find_spec(REQUIRED_MODULE) is not None


class _Apis:
    """The generated modules of the extra, imported together once."""

    def __init__(self) -> None:
        try:
            self.grpc: ModuleType = importlib.import_module("grpc")
            apis = "tensorflow_serving.apis"
            self.predict_pb2 = importlib.import_module(f"{apis}.predict_pb2")
            self.prediction_service = importlib.import_module(f"{apis}.prediction_service_pb2_grpc")
            self.model_service = importlib.import_module(f"{apis}.model_service_pb2_grpc")
            self.get_model_status_pb2 = importlib.import_module(f"{apis}.get_model_status_pb2")
            self.get_model_metadata_pb2 = importlib.import_module(f"{apis}.get_model_metadata_pb2")
            self.json_format = importlib.import_module("google.protobuf.json_format")
        except ImportError as exc:
            raise ConfigError(GRPC_EXTRA_HINT) from exc


def build_predict_request(
    apis: Any, texts: Sequence[str], *, model_name: str, signature_name: str, input_name: str
) -> Any:
    """A PredictRequest carrying the texts as one 1-D DT_STRING tensor (shape [batch])."""
    request = apis.predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    tensor = request.inputs[input_name]
    tensor.dtype = DT_STRING
    tensor.tensor_shape.dim.add().size = len(texts)
    tensor.string_val.extend(t.encode("utf-8", "replace") for t in texts)
    return request


def tensor_to_list(tensor: Any) -> Any:
    """A TensorProto as nested Python lists (what the REST API would have sent as JSON)."""
    dims = [int(d.size) for d in tensor.tensor_shape.dim]
    dtype = int(tensor.dtype)
    flat: list[Any]
    if dtype == DT_STRING:
        flat = [_decode_class(v) for v in tensor.string_val]
    elif tensor.tensor_content and dtype in _PACKED:
        packed = array.array(_PACKED[dtype])
        packed.frombytes(tensor.tensor_content)
        if sys.byteorder != "little":
            packed.byteswap()
        flat = packed.tolist()
    elif dtype == DT_FLOAT:
        flat = list(tensor.float_val)
    elif dtype == DT_DOUBLE:
        flat = list(tensor.double_val)
    elif dtype == DT_INT32:
        flat = list(tensor.int_val)
    elif dtype == DT_INT64:
        flat = list(tensor.int64_val)
    else:
        raise MalformedResponseError(f"unsupported output tensor dtype {dtype}")
    total = 1
    for d in dims:
        total *= d
    if dims and total != len(flat) and len(flat) == 1:
        flat = flat * total  # TF elides repeated values: one value stands for all
    return _reshape(flat, dims)


def _decode_class(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _reshape(flat: list[Any], dims: list[int]) -> Any:
    if len(dims) <= 1:
        return flat
    step = len(flat) // dims[0] if dims[0] else 0
    return [_reshape(flat[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0])]


class GrpcTransport:
    def __init__(self, config: TFServingConfig) -> None:
        if not extra_installed():
            raise ConfigError(GRPC_EXTRA_HINT)
        self._config = config
        self._apis: _Apis | None = None
        self._channel: Any = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self._config.grpc_target

    def predict(self, texts: Sequence[str]) -> Any:
        apis, channel = self._connect()
        request = build_predict_request(
            apis,
            texts,
            model_name=self._config.model_name,
            signature_name=self._config.signature_name,
            input_name=self._config.input_name,
        )
        stub = apis.prediction_service.PredictionServiceStub(channel)
        response = self._rpc(apis, stub.Predict, request)
        outputs = {name: tensor_to_list(t) for name, t in response.outputs.items()}
        if len(outputs) == 1 and not any(k in outputs for k in SCORE_KEYS):
            return {"outputs": next(iter(outputs.values()))}
        return {"outputs": outputs}

    def status(self) -> Any:
        apis, channel = self._connect()
        request = apis.get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self._config.model_name
        stub = apis.model_service.ModelServiceStub(channel)
        response = self._rpc(apis, stub.GetModelStatus, request)
        return {
            "model_version_status": [
                {
                    "version": str(v.version),
                    "state": _STATES.get(int(v.state), str(v.state)),
                    "status": {
                        "error_code": "OK"
                        if int(v.status.error_code) == 0
                        else str(v.status.error_code),
                        "error_message": v.status.error_message,
                    },
                }
                for v in response.model_version_status
            ]
        }

    def metadata(self) -> Any:
        apis, channel = self._connect()
        request = apis.get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = self._config.model_name
        request.metadata_field.append("signature_def")
        stub = apis.prediction_service.PredictionServiceStub(channel)
        response = self._rpc(apis, stub.GetModelMetadata, request)
        return apis.json_format.MessageToDict(response)

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None

    def _connect(self) -> tuple[Any, Any]:
        with self._lock:
            if self._apis is None:
                self._apis = _Apis()
            if self._channel is None:
                self._channel = self._apis.grpc.insecure_channel(
                    self._config.grpc_target,
                    options=[
                        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                    ],
                )
            return self._apis, self._channel

    def _rpc(self, apis: _Apis, method: Any, request: Any) -> Any:
        """Calls with the deadline, retrying UNAVAILABLE (the gRPC analogue of a refused
        connection or a 503) `retries` times."""
        grpc = apis.grpc
        retries = max(0, self._config.retries)
        attempt = 0
        while True:
            try:
                return method(request, timeout=self._config.timeout_s)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAVAILABLE and attempt < retries:
                    time.sleep(RETRY_BACKOFF_S * (2**attempt))
                    attempt += 1
                    continue
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    reason = f"timed out after {self._config.timeout_s}s"
                else:
                    details = " ".join(str(exc.details() or "").split())[:160]
                    reason = f"gRPC {code.name}: {details}"
                raise BackendUnavailable(f"tfserving at {self.endpoint}: {reason}") from exc
