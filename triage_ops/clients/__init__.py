"""One thin client per system triage-ops talks to, built lazily from the config.

Only the client a command uses is imported and built (the kubernetes package alone takes
longer to import than `triage-ops --help` may take). Every client is built with the run's
timeout and fails with the typed errors of `triage_ops.clients.errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from triage_ops.clients.alertmanager import AlertmanagerClient
    from triage_ops.clients.kubernetes import KubernetesClient
    from triage_ops.clients.mailer import Mailer
    from triage_ops.clients.model_server import ModelServerClient
    from triage_ops.clients.pagerduty import PagerDutyClient
    from triage_ops.clients.postgres import PostgresClient
    from triage_ops.clients.prometheus import PrometheusClient
    from triage_ops.clients.redis import RedisOpsClient
    from triage_ops.clients.service_api import ServiceApiClient
    from triage_ops.clients.slack import SlackClient
    from triage_ops.config import OpsConfig


T = TypeVar("T")


class Clients:
    """Per-run factory: `clients.redis()` builds the Redis client on first use and then
    returns the same one (thread-safe enough: building twice is harmless)."""

    def __init__(self, config: OpsConfig, *, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self._built: dict[str, Any] = {}

    def _get(self, key: str, build: Callable[[], T]) -> T:
        if key not in self._built:
            self._built[key] = build()
        built: T = self._built[key]
        return built

    def kubernetes(self) -> KubernetesClient:
        from triage_ops.clients.kubernetes import KubernetesClient

        return self._get(
            "kubernetes", lambda: KubernetesClient.from_config(self.config, timeout=self.timeout)
        )

    def postgres(self, *, replica: bool = False) -> PostgresClient:
        from triage_ops.clients.postgres import PostgresClient

        return self._get(
            f"postgres:{replica}",
            lambda: PostgresClient.from_config(self.config, timeout=self.timeout, replica=replica),
        )

    def redis(self) -> RedisOpsClient:
        from triage_ops.clients.redis import RedisOpsClient

        return self._get(
            "redis", lambda: RedisOpsClient.from_config(self.config, timeout=self.timeout)
        )

    def prometheus(self) -> PrometheusClient:
        from triage_ops.clients.prometheus import PrometheusClient

        return self._get(
            "prometheus", lambda: PrometheusClient.from_config(self.config, timeout=self.timeout)
        )

    def alertmanager(self) -> AlertmanagerClient:
        from triage_ops.clients.alertmanager import AlertmanagerClient

        return self._get(
            "alertmanager",
            lambda: AlertmanagerClient.from_config(self.config, timeout=self.timeout),
        )

    def model_server(self) -> ModelServerClient:
        from triage_ops.clients.model_server import ModelServerClient

        return self._get(
            "model_server",
            lambda: ModelServerClient.from_config(self.config, timeout=self.timeout),
        )

    def service_api(self) -> ServiceApiClient:
        from triage_ops.clients.service_api import ServiceApiClient

        return self._get(
            "service_api", lambda: ServiceApiClient.from_config(self.config, timeout=self.timeout)
        )

    def pagerduty(self) -> PagerDutyClient:
        from triage_ops.clients.pagerduty import PagerDutyClient

        return self._get(
            "pagerduty", lambda: PagerDutyClient.from_config(self.config, timeout=self.timeout)
        )

    def slack(self) -> SlackClient:
        from triage_ops.clients.slack import SlackClient

        return self._get(
            "slack", lambda: SlackClient.from_config(self.config, timeout=self.timeout)
        )

    def mailer(self) -> Mailer:
        from triage_ops.clients.mailer import Mailer

        return self._get("mailer", lambda: Mailer.from_config(self.config, timeout=self.timeout))
