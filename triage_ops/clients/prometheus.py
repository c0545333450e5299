"""Prometheus' HTTP API for triage-ops, over `prometheus-api-client` (PrometheusConnect).

PrometheusConnect does honour a per-request timeout (its `timeout=`, passed through to
requests), so it is used for the queries and the target list; it is imported on first use.
Three things it does not do are done here, on the same requests.Session:
- its default adapter retries 3 times with 1 s backoff on 5xx: a Prometheus that answers
  503 would cost seconds, so it is handed a Retry of zero;
- on an error it raises one exception whose text embeds the body's repr: Prometheus'
  own error (`{"errorType": "bad_data", "error": "1:5: parse error: ..."}`) is dug out of it
  so BadResponse says what is wrong with the PromQL;
- `/-/ready` and `/api/v1/alerts` have no method there.

Every result comes back as plain data: a sample is `{"labels": {...}, "value": float}`, a
range series `{"labels": {...}, "values": [(unix_ts, float), ...]}`. NaN stays NaN in
`query()` (a rate over nothing); `scalar()` turns it into None ("no data").
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from triage_ops.clients.errors import BadResponse, ClientError
from triage_ops.clients.http import HttpTransport, display_url
from triage_ops.errors import UsageError

if TYPE_CHECKING:
    from prometheus_api_client import PrometheusConnect

SYSTEM = "prometheus"
T = TypeVar("T")
_LIBRARY_ERROR = re.compile(r"^HTTP Status Code (?P<status>\d+) \((?P<body>b['\"].*)\)$", re.S)
_LABEL_VALUE_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def selector(metric: str, labels: Mapping[str, str] | None = None) -> str:
    """`metric{a="x",b="y"}` with the values escaped as PromQL string literals."""
    if not labels:
        return metric
    inner = ",".join(f'{k}="{v.translate(_LABEL_VALUE_ESCAPES)}"' for k, v in labels.items())
    return f"{metric}{{{inner}}}"


class PrometheusClient:
    def __init__(self, url: str, *, timeout: float) -> None:
        if not url:
            raise UsageError(
                "no prometheus_url configured (config file or TRIAGE_OPS_PROMETHEUS_URL)"
            )
        self.url = url.rstrip("/")
        self.http = HttpTransport(self.url, system=SYSTEM, label="Prometheus", timeout=timeout)
        self.address = display_url(self.url)
        self._api: PrometheusConnect | None = None

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> PrometheusClient:
        return cls(config.prometheus_url, timeout=timeout)

    @property
    def timeout(self) -> float:
        return self.http.timeout

    @property
    def api(self) -> PrometheusConnect:
        if self._api is None:
            from prometheus_api_client import PrometheusConnect
            from urllib3.util.retry import Retry

            self._api = PrometheusConnect(
                url=self.url,
                session=self.http.session,
                retry=Retry(
                    total=0, connect=0, read=0, status=0, redirect=0, raise_on_status=False
                ),
                timeout=self.http.timeout_spec(),
            )
        return self._api

    # -- queries -----------------------------------------------------------------------------

    def query(self, promql: str, *, at: datetime | None = None) -> list[dict[str, Any]]:
        """An instant query: one `{"labels", "value"}` per series (a scalar or string
        result is one row without labels; a range-vector result adds `values`)."""
        params = {"time": str(at.timestamp())} if at is not None else None
        result = self._call(lambda: self.api.custom_query(promql, params=params), f"query {promql}")
        return _instant_rows(result, self.http.where, promql)

    def query_range(
        self, promql: str, *, start: datetime, end: datetime, step: str | float
    ) -> list[dict[str, Any]]:
        """A range query: one `{"labels", "values": [(ts, value), ...]}` per series."""
        step_text = f"{step:g}" if isinstance(step, int | float) else str(step)
        result = self._call(
            lambda: self.api.custom_query_range(
                promql, start_time=start, end_time=end, step=step_text
            ),
            f"query_range {promql}",
        )
        if not isinstance(result, list):
            raise self._shape(f"query_range {promql}")
        return [_range_row(item, self.http.where, promql) for item in result]

    def scalar(self, promql: str, *, at: datetime | None = None) -> float | None:
        """One number: None when the query returns no series or NaN; BadResponse when it
        returns several (aggregate it first, e.g. `sum(...)`)."""
        rows = self.query(promql, at=at)
        if not rows:
            return None
        if len(rows) > 1:
            raise BadResponse(
                f"{self.http.where}: {promql!r} returned {len(rows)} series where one number "
                "was expected (aggregate it)",
                system=SYSTEM,
            )
        value = float(rows[0]["value"])
        return None if math.isnan(value) else value

    def alerts_history(
        self,
        *,
        start: datetime,
        end: datetime,
        step: str | float = "60s",
        alertname: str | None = None,
        state: str = "firing",
        labels: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Which alerts were in `state` between `start` and `end`, from Prometheus' own
        `ALERTS` series (it keeps history; Alertmanager only knows the present). One row
        per alert series: `labels` (without __name__ and alertstate), `first_seen` and
        `last_seen` (unix seconds, to the step) and `samples` (steps spent in the state)."""
        wanted = {"alertstate": state, **({"alertname": alertname} if alertname else {})}
        wanted.update(labels or {})
        rows = self.query_range(selector("ALERTS", wanted), start=start, end=end, step=step)
        history = []
        for row in rows:
            seen = [ts for ts, value in row["values"] if value == value and value > 0]
            if not seen:
                continue
            shown = {k: v for k, v in row["labels"].items() if k not in ("__name__", "alertstate")}
            history.append(
                {
                    "labels": shown,
                    "first_seen": min(seen),
                    "last_seen": max(seen),
                    "samples": len(seen),
                }
            )
        history.sort(key=lambda r: (r["first_seen"], sorted(r["labels"].items())))
        return history

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus evaluates now (`/api/v1/alerts`): pending and firing,
        each `{"labels", "annotations", "state", "active_at", "value"}`."""
        what = "GET /api/v1/alerts"
        data = self._api_get("/api/v1/alerts", what)
        alerts = data.get("alerts") if isinstance(data, Mapping) else None
        if not isinstance(alerts, list):
            raise self._shape(what)
        return [
            {
                "labels": dict(a.get("labels") or {}),
                "annotations": dict(a.get("annotations") or {}),
                "state": str(a.get("state", "")),
                "active_at": a.get("activeAt"),
                "value": a.get("value"),
            }
            for a in alerts
            if isinstance(a, Mapping)
        ]

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets: `job`, `instance`, `health` (up/down/unknown),
        `last_error`, `last_scrape`, `scrape_url`, `labels`."""
        data = self._call(lambda: self.api.get_targets(), "GET /api/v1/targets")
        active = data.get("activeTargets") if isinstance(data, Mapping) else None
        if not isinstance(active, list):
            raise self._shape("GET /api/v1/targets")
        rows = []
        for target in active:
            labels = dict(target.get("labels") or {})
            rows.append(
                {
                    "job": labels.get("job", target.get("scrapePool", "")),
                    "instance": labels.get("instance", ""),
                    "health": str(target.get("health", "unknown")),
                    "last_error": str(target.get("lastError") or ""),
                    "last_scrape": target.get("lastScrape"),
                    "scrape_url": str(target.get("scrapeUrl", "")),
                    "labels": labels,
                }
            )
        return rows

    def ready(self) -> bool:
        """`/-/ready`: True when Prometheus serves queries; False while it starts (503)."""
        what = "GET /-/ready"
        response = self.http.request("GET", "/-/ready", what=what)
        if response.status_code == 200:
            return True
        if response.status_code == 503:
            return False
        raise BadResponse(
            f"{self.http.where}: HTTP {response.status_code}:"
            f" {self.http.excerpt(response)} ({what})",
            system=SYSTEM,
            status=response.status_code,
        )

    # -- plumbing ----------------------------------------------------------------------------

    def _api_get(self, path: str, what: str) -> Any:
        response = self.http.request("GET", path, what=what)
        if response.status_code != 200:
            raise self._api_error(response.status_code, response.content, what)
        body = self.http.json(response, what)
        if not isinstance(body, Mapping) or body.get("status") != "success":
            raise self._shape(what)
        return body.get("data")

    def _call(self, fn: Callable[[], T], what: str) -> T:
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            return fn()
        except requests.RequestException as exc:
            raise self.http.translate(exc, what) from None
        except PrometheusApiClientException as exc:
            raise self._library_error(exc, what) from None
        except (KeyError, TypeError, ValueError):
            raise self._shape(what) from None

    def _library_error(self, exc: Exception, what: str) -> ClientError:
        """PrometheusConnect's "HTTP Status Code 400 (b'{...}')" back into status + body."""
        match = _LIBRARY_ERROR.match(str(exc))
        if match is None:
            return BadResponse(f"{self.http.where}: {str(exc)[:200]} ({what})", system=SYSTEM)
        try:
            body = ast.literal_eval(match["body"])
        except (ValueError, SyntaxError):
            body = b""
        return self._api_error(int(match["status"]), body if isinstance(body, bytes) else b"", what)

    def _api_error(self, status: int, body: bytes, what: str) -> BadResponse:
        detail = body[:400].decode("utf-8", "replace").strip() or "(empty body)"
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, Mapping) and "error" in data:
            kind = data.get("errorType")
            detail = f"{kind}: {data['error']}" if kind else str(data["error"])
        detail = " ".join(detail.split())
        return BadResponse(
            f"{self.http.where}: HTTP {status}: {detail} ({what})", system=SYSTEM, status=status
        )

    def _shape(self, what: str) -> BadResponse:
        return BadResponse(
            f"{self.http.where}: the answer is not in Prometheus' documented shape ({what})",
            system=SYSTEM,
        )


def _number(value: Any) -> float:
    return float(value)  # Prometheus sends "NaN", "+Inf", "1.5" as strings


def _instant_rows(result: Any, where: str, promql: str) -> list[dict[str, Any]]:
    try:
        if (
            isinstance(result, list)
            and len(result) == 2
            and isinstance(result[0], int | float)
            and not isinstance(result[1], dict)
        ):  # a scalar or string result: [ts, "value"]
            return [{"labels": {}, "value": _number(result[1])}]
        rows = []
        for item in result:
            row: dict[str, Any] = {"labels": dict(item.get("metric") or {})}
            if "values" in item:  # a range vector selected by an instant query
                row["values"] = [(float(ts), _number(v)) for ts, v in item["values"]]
                row["value"] = row["values"][-1][1] if row["values"] else math.nan
            else:
                row["value"] = _number(item["value"][1])
            rows.append(row)
        return rows
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise BadResponse(
            f"{where}: the answer to {promql!r} is not a vector, matrix or scalar", system=SYSTEM
        ) from None


def _range_row(item: Any, where: str, promql: str) -> dict[str, Any]:
    try:
        return {
            "labels": dict(item.get("metric") or {}),
            "values": [(float(ts), _number(v)) for ts, v in item["values"]],
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        raise BadResponse(
            f"{where}: the range answer to {promql!r} is not a matrix", system=SYSTEM
        ) from None
