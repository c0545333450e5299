"""Incident mail over SMTP (smtplib): STARTTLS when configured (the default), LOGIN when a
username is set, every socket operation bounded by the run's timeout.

The message goes out with MAIL / RCPT / DATA rather than `send_message`, because the proof
that the relay took it is the reply to DATA (250 and usually a queue id), and that reply is
what `send` returns for the action to verify. A recipient the relay refuses is reported,
not silently dropped.

The password is never logged (smtplib's debug output stays off) and never appears in an
error: authentication failures say "authentication failed for user X at host:port".
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from typing import Any

from triage_core.service.settings import Secret
from triage_ops.clients.errors import AuthFailed, BadResponse, TimedOut, Unreachable
from triage_ops.errors import UsageError

SYSTEM = "smtp"


@dataclass(frozen=True)
class MailAccepted:
    code: int  # the reply to DATA: 250 when the relay took the message
    reply: str  # the relay's text, e.g. "OK: queued as 4XyZ"
    message_id: str
    recipients: tuple[str, ...]  # accepted by RCPT
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> "550 ..."

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "reply": self.reply,
            "message_id": self.message_id,
            "recipients": list(self.recipients),
            "refused": dict(self.refused),
        }


def _recipients(value: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in value.split(",") if r.strip())


class Mailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: tuple[str, ...],
        timeout: float,
        starttls: bool = True,
        username: str = "",
        password: Secret | str = "",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.timeout = timeout
        self.starttls = starttls
        self.username = username
        self.password = Secret(password)
        self.ssl_context = ssl_context
        self.address = f"{host}:{port}"

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> Mailer:
        for name in ("smtp_host", "comms_from", "comms_to"):
            if not str(getattr(config, name)).strip():
                raise UsageError(f"no {name} configured (config file or TRIAGE_OPS_{name.upper()})")
        if config.smtp_username and not config.smtp_password:
            raise UsageError(
                "smtp_username is set but no smtp_password configured "
                "(config file or TRIAGE_OPS_SMTP_PASSWORD)"
            )
        return cls(
            host=config.smtp_host,
            port=int(config.smtp_port),
            sender=config.comms_from,
            recipients=_recipients(config.comms_to),
            timeout=timeout,
            starttls=bool(config.smtp_starttls),
            username=config.smtp_username,
            password=config.smtp_password,
        )

    @property
    def destination(self) -> str:
        """Where mail goes, as it may be shown: relay and recipients, no credentials."""
        return f"smtp://{self.address} to {', '.join(self.recipients)}"

    def message(
        self, subject: str, body: str, *, headers: dict[str, str] | None = None
    ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.sender.rpartition("@")[2] or None
        msg["Message-ID"] = make_msgid(domain=domain)
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body)
        return msg

    def send(
        self, subject: str, body: str, *, headers: dict[str, str] | None = None
    ) -> MailAccepted:
        msg = self.message(subject, body, headers=headers)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise BadResponse(
                            f"smtp: {self.address} does not offer STARTTLS "
                            "(set smtp_starttls: false only for a trusted local relay)",
                            system=SYSTEM,
                        )
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, str(self.password))
                return self._transaction(smtp, msg)
        except smtplib.SMTPAuthenticationError:
            raise AuthFailed(
                f"smtp: authentication failed for user {self.username} at {self.address}",
                system=SYSTEM,
            ) from None
        except TimeoutError:
            raise TimedOut(
                f"smtp: {self.address} did not answer within {self.timeout:g}s", system=SYSTEM
            ) from None
        except ssl.SSLError as exc:
            raise BadResponse(
                f"smtp: TLS with {self.address} failed ({exc.reason or type(exc).__name__})",
                system=SYSTEM,
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib turns a read timeout into "Connection unexpectedly closed: timed out"
            if isinstance(exc.__context__, TimeoutError):
                raise TimedOut(
                    f"smtp: {self.address} did not answer within {self.timeout:g}s",
                    system=SYSTEM,
                ) from None
            raise Unreachable(
                f"smtp: {self.address} closed the connection", system=SYSTEM
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise BadResponse(
                f"smtp: {self.address} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                system=SYSTEM,
                status=exc.smtp_code,
            ) from None
        except smtplib.SMTPException as exc:
            raise BadResponse(
                f"smtp: {self.address}: {type(exc).__name__}", system=SYSTEM
            ) from None
        except OSError as exc:
            raise Unreachable(
                f"smtp: cannot reach {self.address} ({exc.strerror or type(exc).__name__})",
                system=SYSTEM,
            ) from None

    def _transaction(self, smtp: smtplib.SMTP, msg: EmailMessage) -> MailAccepted:
        code, reply = smtp.mail(self.sender)
        if code != 250:
            raise BadResponse(
                f"smtp: {self.address} refused sender {self.sender}: {code} {_text(reply)}",
                system=SYSTEM,
                status=code,
            )
        accepted: list[str] = []
        refused: dict[str, str] = {}
        for rcpt in self.recipients:
            code, reply = smtp.rcpt(rcpt)
            if code in (250, 251):
                accepted.append(rcpt)
            else:
                refused[rcpt] = f"{code} {_text(reply)}"
        if not accepted:
            smtp.rset()
            detail = "; ".join(f"{r}: {why}" for r, why in refused.items())
            raise BadResponse(
                f"smtp: {self.address} refused every recipient ({detail})", system=SYSTEM
            )
        code, reply = smtp.data(msg.as_bytes(policy=SMTP_POLICY))
        if code != 250:
            raise BadResponse(
                f"smtp: {self.address} did not take the message: {code} {_text(reply)}",
                system=SYSTEM,
                status=code,
            )
        return MailAccepted(
            code=code,
            reply=_text(reply),
            message_id=str(msg["Message-ID"]),
            recipients=tuple(accepted),
            refused=refused,
        )


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:200]
