"""The PagerDuty, Slack and SMTP clients against local servers that speak the documented
protocols: what they send, what they make of each answer, how they fail (stopped and
black-holed), and that their secrets never show."""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.comms import servers
from triage_ops.clients.errors import AuthFailed, BadResponse, NotFound, TimedOut, Unreachable
from triage_ops.clients.mailer import Mailer
from triage_ops.clients.pagerduty import EventRejected, PagerDutyClient
from triage_ops.clients.pagerduty import Throttled as PdThrottled
from triage_ops.clients.slack import MessageRejected, SlackClient, mask_webhook
from triage_ops.clients.slack import Throttled as SlackThrottled
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError
from triage_ops.sandbox.processes import free_port

pytestmark = pytest.mark.timeout(60)


def pd(http: servers.HttpServices, key: str = servers.ROUTING_KEY) -> PagerDutyClient:
    return PagerDutyClient(key, url=http.pagerduty_url, timeout=2.0)


# -- PagerDuty --------------------------------------------------------------------------------


def test_pagerduty_acknowledge_sends_the_documented_body(http: servers.HttpServices) -> None:
    accepted = pd(http).acknowledge("INC-20261124-1423-P0")
    assert accepted.to_json() == {
        "http_status": 202,
        "status": "success",
        "message": "Event processed",
        "dedup_key": "INC-20261124-1423-P0",
    }
    [seen] = http.requests
    assert seen.path == "/v2/enqueue"
    assert seen.headers["content-type"] == "application/json"
    assert seen.json() == {
        "routing_key": servers.ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": "INC-20261124-1423-P0",
    }


def test_pagerduty_trigger_and_resolve(http: servers.HttpServices) -> None:
    client = pd(http)
    payload = client.alert_payload(
        summary="x" * 1500,
        source="email-triage-api",
        severity="critical",
        component="api",
        group="email-triage",
        event_class="outage",
        custom_details={"incident": "INC-1"},
    )
    accepted = client.trigger(payload)
    assert accepted.status == "success" and len(accepted.dedup_key) == 32  # generated
    sent = http.requests[0].json()
    assert sent["payload"] == {
        "summary": "x" * 1023 + "…",
        "source": "email-triage-api",
        "severity": "critical",
        "component": "api",
        "group": "email-triage",
        "class": "outage",
        "custom_details": {"incident": "INC-1"},
    }
    assert len(sent["payload"]["summary"]) == 1024
    assert client.resolve(accepted.dedup_key).dedup_key == accepted.dedup_key
    assert http.requests[1].json()["event_action"] == "resolve"
    assert [r.status for r in http.requests] == [202, 202]


def test_pagerduty_rejects_bad_input_before_sending(http: servers.HttpServices) -> None:
    client = pd(http)
    with pytest.raises(UsageError, match="severity must be one of critical, error"):
        client.alert_payload(summary="s", source="x", severity="fatal")
    with pytest.raises(UsageError, match=r"dedup_key must be 1\.\.255 characters"):
        client.acknowledge("k" * 256)
    with pytest.raises(UsageError, match="acknowledge needs the alert's dedup_key"):
        client.send(client.body("acknowledge"))
    assert http.requests == []


def test_pagerduty_400_is_typed_and_carries_the_errors(http: servers.HttpServices) -> None:
    with pytest.raises(EventRejected) as raised:
        pd(http, key="short-key").acknowledge("abc")
    assert str(raised.value) == (
        "pagerduty: event rejected (400): "
        "Length of 'routing_key' is incorrect (should be 32 characters)"
    )
    assert raised.value.status == 400


def test_pagerduty_scrubs_the_key_from_what_it_answers(http: servers.HttpServices) -> None:
    http.force(
        400,
        {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [f"routing key {servers.ROUTING_KEY} is disabled"],
        },
    )
    with pytest.raises(EventRejected) as raised:
        pd(http).acknowledge("abc")
    assert str(raised.value) == "pagerduty: event rejected (400): routing key *** is disabled"


def test_pagerduty_429_and_5xx(http: servers.HttpServices) -> None:
    http.force(429, {"status": "throttle event", "message": "Requests arriving too quickly"})
    with pytest.raises(PdThrottled, match=r"throttled \(429\)"):
        pd(http).acknowledge("abc")
    http.force(502, "bad gateway")
    with pytest.raises(BadResponse) as raised:
        pd(http).acknowledge("abc")
    assert raised.value.status == 502
    http.force(202, {"status": "success"})  # no dedup_key: not the documented body
    with pytest.raises(BadResponse, match="202 without the documented body"):
        pd(http).acknowledge("abc")


def test_pagerduty_from_config_names_the_setting() -> None:
    with pytest.raises(UsageError) as raised:
        PagerDutyClient.from_config(OpsConfig(), timeout=1)
    assert str(raised.value) == (
        "no pagerduty_routing_key configured (config file or TRIAGE_OPS_PAGERDUTY_ROUTING_KEY)"
    )


def test_pagerduty_masked_body() -> None:
    client = PagerDutyClient(
        servers.ROUTING_KEY, url="https://events.pagerduty.com/v2/enqueue", timeout=1
    )
    assert client.masked(client.body("acknowledge", dedup_key="k")) == {
        "routing_key": "***",
        "event_action": "acknowledge",
        "dedup_key": "k",
    }


# -- Slack ------------------------------------------------------------------------------------


def test_slack_post_is_accepted(http: servers.HttpServices) -> None:
    client = SlackClient(http.slack_url, timeout=2.0)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    assert client.post("hello", blocks=blocks).to_json() == {"http_status": 200, "body": "ok"}
    [seen] = http.requests
    assert seen.json() == {"text": "hello", "blocks": blocks}
    assert seen.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (400, "invalid_payload", MessageRejected, "(400 invalid_payload)"),
        (403, "action_prohibited", AuthFailed, "(403 action_prohibited)"),
        (404, "channel_not_found", NotFound, "(404 channel_not_found)"),
        (410, "channel_is_archived", NotFound, "(410 channel_is_archived)"),
        (500, "rollup_error", BadResponse, "(500 rollup_error)"),
        (200, "<html>captive portal</html>", BadResponse, "(unexpected body)"),
    ],
)
def test_slack_errors_are_typed(
    http: servers.HttpServices, status: int, body: str, error: type[Exception], message: str
) -> None:
    http.force(status, body)
    with pytest.raises(error) as raised:
        SlackClient(http.slack_url, timeout=2.0).post("hello")
    assert str(raised.value).endswith(message)
    assert "XyZsecret" not in str(raised.value)


def test_slack_unknown_webhook_and_rate_limit(http: servers.HttpServices) -> None:
    with pytest.raises(NotFound) as raised:
        SlackClient(http.base + "/services/T1/B2/revoked", timeout=2.0).post("hello")
    assert str(raised.value) == (
        "slack: http://127.0.0.1/services/*** refused the message (404 no_service)"
    )
    http.force(429, "rate_limited", {"Retry-After": "30"})
    with pytest.raises(SlackThrottled, match=r"\(429 rate_limited\), retry after 30s$"):
        SlackClient(http.slack_url, timeout=2.0).post("hello")


def test_slack_refuses_empty_text_before_sending(http: servers.HttpServices) -> None:
    with pytest.raises(UsageError, match="the message text is empty"):
        SlackClient(http.slack_url, timeout=2.0).post("  ")
    assert http.requests == []


def test_slack_server_checks_the_payload() -> None:
    """The stand-in refuses what Slack refuses (so a passing client test means something)."""
    assert servers.slack_error({"text": ""}) == "no_text"
    assert servers.slack_error({"text": 3}) == "invalid_payload"
    assert servers.slack_error({"text": "x", "blocks": [{"text": "no type"}]}) == "invalid_blocks"
    assert servers.slack_error({"text": "x", "blocks": [{"type": "divider"}] * 51}) == (
        "invalid_blocks"
    )
    assert servers.slack_error({"text": "x"}) == ""


def test_pagerduty_server_checks_the_payload() -> None:
    assert servers.pagerduty_errors(
        {
            "routing_key": "k" * 32,
            "event_action": "trigger",
            "payload": {"summary": "s" * 1025, "source": "", "severity": "fatal", "extra": 1},
        }
    ) == [
        "Unknown field 'payload.extra'",
        "Length of 'payload.summary' is incorrect (maximum 1024 characters)",
        "'payload.source' is missing",
        "'payload.severity' must be one of critical, error, warning, info",
    ]
    assert servers.pagerduty_errors({"routing_key": "k" * 32, "event_action": "resolve"}) == [
        "'dedup_key' is required to resolve"
    ]


def test_mask_webhook() -> None:
    assert mask_webhook("https://hooks.slack.com/services/T000/B000/XXXX") == (
        "https://hooks.slack.com/services/***"
    )


def test_slack_webhook_never_in_debug_logs(
    http: servers.HttpServices, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    SlackClient(http.slack_url, timeout=2.0).post("hello")
    assert "/v2" not in caplog.text  # sanity: nothing else logged
    assert "POST /services/***" in caplog.text  # urllib3's request line, masked
    assert "XyZsecret" not in caplog.text and "T0SECRET1" not in caplog.text


# -- SMTP -------------------------------------------------------------------------------------


def mailer(port: int, **kwargs: Any) -> Mailer:
    defaults: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "oncall@example.com",
        "recipients": ("users@example.com", "status@example.com"),
        "timeout": 2.0,
        "starttls": False,
    }
    return Mailer(**{**defaults, **kwargs})


def test_mail_with_starttls_and_login(
    tls_server_context: ssl.SSLContext, ca: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with servers.smtp_relay(tls_context=tls_server_context, auth=True) as relay:
        accepted = mailer(
            relay.port,
            starttls=True,
            username=servers.SMTP_USER,
            password=servers.SMTP_PASSWORD,
            ssl_context=client_context,
        ).send("[P0] Subject", "Body line\n", headers={"X-Triage-Incident": "INC-1"})
        assert accepted.code == 250
        assert accepted.reply == "OK: queued as Q1"
        assert accepted.recipients == ("users@example.com", "status@example.com")
        [received] = relay.messages
    assert received.mail_from == "oncall@example.com"
    assert received.rcpt_tos == ["users@example.com", "status@example.com"]
    text = received.data.decode()
    assert "Subject: [P0] Subject\r\n" in text
    assert "X-Triage-Incident: INC-1\r\n" in text
    assert text.endswith("Body line\r\n")
    assert servers.SMTP_PASSWORD not in caplog.text


def test_mail_wrong_password_is_auth_failed(tls_server_context: ssl.SSLContext, ca: Any) -> None:
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with servers.smtp_relay(tls_context=tls_server_context, auth=True) as relay:
        with pytest.raises(AuthFailed) as raised:
            mailer(
                relay.port,
                starttls=True,
                username=servers.SMTP_USER,
                password="wrong-password",
                ssl_context=client_context,
            ).send("s", "b")
        assert relay.messages == []
    assert str(raised.value) == (
        f"smtp: authentication failed for user triage-ops at 127.0.0.1:{relay.port}"
    )


def test_mail_untrusted_certificate_fails_cleanly(tls_server_context: ssl.SSLContext) -> None:
    untrusted = r"TLS with 127.0.0.1:\d+ failed \(CERTIFICATE_VERIFY_FAILED\)"
    with (
        servers.smtp_relay(tls_context=tls_server_context) as relay,
        pytest.raises(BadResponse, match=untrusted),
    ):
        mailer(relay.port, starttls=True).send("s", "b")


def test_mail_starttls_required_but_not_offered() -> None:
    with (
        servers.smtp_relay() as relay,
        pytest.raises(BadResponse, match="does not offer STARTTLS"),
    ):
        mailer(relay.port, starttls=True).send("s", "b")


def test_mail_refused_recipient_is_reported() -> None:
    with servers.smtp_relay() as relay:
        accepted = mailer(relay.port, recipients=("a@example.com", servers.REFUSED_RECIPIENT)).send(
            "s", "b"
        )
        assert accepted.recipients == ("a@example.com",)
        assert accepted.refused == {servers.REFUSED_RECIPIENT: "550 5.1.1 no such user"}
        with pytest.raises(BadResponse, match="refused every recipient"):
            mailer(relay.port, recipients=(servers.REFUSED_RECIPIENT,)).send("s", "b")
        assert len(relay.messages) == 1


def test_mailer_from_config() -> None:
    with pytest.raises(UsageError) as raised:
        Mailer.from_config(OpsConfig(smtp_host="mail"), timeout=1)
    assert str(raised.value) == "no comms_from configured (config file or TRIAGE_OPS_COMMS_FROM)"
    config = OpsConfig(smtp_host="mail", smtp_port=2525, comms_from="a@x", comms_to=" b@x, c@x ,")
    built = Mailer.from_config(config, timeout=1)
    assert (built.address, built.recipients, built.starttls) == ("mail:2525", ("b@x", "c@x"), True)
    assert built.destination == "smtp://mail:2525 to b@x, c@x"


# -- stopped and black-holed ------------------------------------------------------------------


def _senders(port: int, timeout: float) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    return {
        "pagerduty": lambda: PagerDutyClient(
            servers.ROUTING_KEY, url=base + "/v2/enqueue", timeout=timeout
        ).acknowledge("k"),
        "slack": lambda: SlackClient(base + servers.SLACK_PATH, timeout=timeout).post("hi"),
        "smtp": lambda: mailer(port, timeout=timeout).send("s", "b"),
    }


@pytest.mark.parametrize("system", ["pagerduty", "slack", "smtp"])
def test_stopped_dependency_is_unreachable(system: str) -> None:
    port = free_port()
    with pytest.raises(Unreachable) as raised:
        _senders(port, 1.0)[system]()
    assert not isinstance(raised.value, TimedOut)
    assert raised.value.system == system
    assert f"127.0.0.1:{port}" in str(raised.value) or "127.0.0.1/" in str(raised.value)
    assert "XyZsecret" not in str(raised.value) and servers.ROUTING_KEY not in str(raised.value)


@pytest.mark.parametrize("system", ["pagerduty", "slack", "smtp"])
def test_black_holed_dependency_times_out(system: str) -> None:
    with black_hole() as port:
        started = time.monotonic()
        with pytest.raises(TimedOut) as raised:
            _senders(port, 0.5)[system]()
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert "did not answer within 0.5s" in str(raised.value)
    assert raised.value.__cause__ is None  # requests' exception (with the URL) dropped
    assert "XyZsecret" not in str(raised.value)
