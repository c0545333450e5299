"""Incident comms: the runbook's "Communication Templates" section (initial notification,
resolution notification, scheduled maintenance), plus an update and a post-mortem draft.

What we do differently from the runbook, and why:
- The runbook's texts have blanks (`[TIMESTAMP]`, `[BRIEF DESCRIPTION]`, `[TOTAL DOWNTIME]`)
  that someone fills by hand at 3 a.m. Here every field comes from the incident record,
  which is folded from the audit timeline (`triage_ops.incidents`): the start time is when
  the incident was opened, the duration is computed, the actions are the ones the engine
  actually took. A field the record does not have yet is an error naming the field and
  the command that records it, never a message sent with a blank or a placeholder.
- The runbook's initial notification says "performance issues" whatever the severity;
  ours says what the severity means (P0 outage, P1 performance, P2 functional issues).
- The maintenance notice promises "the service will remain available" only when the
  expected impact is the runbook's "Minimal disruption expected".
- Sending is an action like any other: `--dry-run` shows the message and where it would
  go (webhook URL masked), confirmation, the transport's acceptance is verified (Slack's
  200 `ok`, the SMTP relay's 250 to DATA), and the send lands on the incident's timeline.

Templates live in `templates/comms/<name>.md.j2` and open with a header comment that
declares what they need:

    {#- about: one line for `triage-ops comms templates`
        source: incident | options
        requires: field field ... -#}

They render in jinja2's sandbox with StrictUndefined: a template cannot reach Python
internals, and a name it uses that the context lacks is an error, not an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from triage_ops.engine.contract import Plan, StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding
from triage_ops.incidents import Incident, load_incident, timeline_for

if TYPE_CHECKING:
    from triage_ops.config import OpsConfig
    from triage_ops.engine.audit import AuditLog
    from triage_ops.engine.report import ActionOutcome

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "comms"
SUFFIX = ".md.j2"
TRANSPORTS = ("slack", "email", "stdout")
DEFAULT_MAINTENANCE_IMPACT = "Minimal disruption expected"
NOT_ACCEPTED = "TRI-COMMS-010"
NOTICE_NOT_ACCEPTED = "TRI-COMMS-011"

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_HEADER = re.compile(r"\A\{#-?(?P<body>.*?)-?#\}", re.DOTALL)
_FIELD = re.compile(r"^\s*(about|source|requires):\s*(.*)$")
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")

# What the initial notice says is being investigated, by severity (the runbook's sections).
ISSUE = {
    "P0": "a complete outage of the Email Triage Service",
    "P1": "performance issues with the Email Triage Service",
    "P2": "functional issues with the Email Triage Service",
}

# How to record a field an incident template needs ({id}: the incident).
_RESOLVE = "triage-ops incident resolve {id} --root-cause TEXT --resolution TEXT"
_RECORD = {
    "root_cause": _RESOLVE,
    "resolution": _RESOLVE,
    "resolved_at": _RESOLVE,
    "duration": _RESOLVE,
    "latest_update": "triage-ops incident note {id} TEXT",
    "impact": "triage-ops incident note {id} TEXT --impact TEXT",
}
# How to give a maintenance field.
_OPTION = {
    "window_start": "--window-start 'YYYY-MM-DD HH:MM'",
    "window_end": "--window-end 'YYYY-MM-DD HH:MM'",
    "timezone": "--timezone ZONE",
    "purpose": "--purpose TEXT",
    "impact": "--impact TEXT",
}


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    about: str
    source: str  # "incident" (fields from the incident record) or "options"
    requires: tuple[str, ...]
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "requires": list(self.requires),
            "about": self.about,
            "path": str(self.path),
        }


@dataclass(frozen=True)
class Message:
    template: str
    subject: str
    body: str
    incident: str = ""  # "" for maintenance notices

    @property
    def text(self) -> str:
        """As rendered: the subject line, a blank line, the body (stdout, dry-runs)."""
        return f"Subject: {self.subject}\n\n{self.body}"

    def slack_text(self) -> str:
        return f"*{self.subject}*\n\n{self.body}"

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "incident": self.incident or None,
            "subject": self.subject,
            "body": self.body,
        }


@dataclass(frozen=True)
class MaintenanceWindow:
    """The options of a maintenance notice, as given (validated when rendered)."""

    window_start: str = ""
    window_end: str = ""
    timezone: str = "UTC"
    purpose: str = ""
    impact: str = DEFAULT_MAINTENANCE_IMPACT
    extra: Mapping[str, Any] = field(default_factory=dict)


# -- templates --------------------------------------------------------------------------------


def _environment(directory: Path) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _cell
    return env


def _cell(value: Any) -> str:
    """A value fit for one markdown table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def template_info(name: str, *, directory: Path | None = None) -> TemplateInfo:
    directory = directory or TEMPLATE_DIR
    if not _NAME.match(name):
        raise UsageError(f"template names are lowercase words, not {name!r}")
    path = directory / f"{name}{SUFFIX}"
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(t.name for t in list_templates(directory=directory)) or "none"
        raise UsageError(f"no comms template {name!r} (known: {known})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    header = _HEADER.match(source)
    values: dict[str, str] = {}
    if header:
        key = ""
        for line in header.group("body").splitlines():
            match = _FIELD.match(line)
            if match:
                key = match.group(1)
                values[key] = match.group(2).strip()
            elif key and line.strip():
                values[key] += " " + line.strip()
    if "requires" not in values:
        raise UsageError(f"{path}: the header comment must declare `requires: field ...`")
    source_kind = values.get("source", "incident")
    if source_kind not in ("incident", "options"):
        raise UsageError(f"{path}: source must be incident or options, not {source_kind!r}")
    return TemplateInfo(
        name=name,
        about=values.get("about", ""),
        source=source_kind,
        requires=tuple(values["requires"].replace(",", " ").split()),
        path=path,
    )


def list_templates(*, directory: Path | None = None) -> list[TemplateInfo]:
    directory = directory or TEMPLATE_DIR
    names = sorted(p.name[: -len(SUFFIX)] for p in directory.glob(f"*{SUFFIX}"))
    return [template_info(n, directory=directory) for n in names if _NAME.match(n)]


# -- contexts ---------------------------------------------------------------------------------


def _when(ts: datetime | None) -> str | None:
    return f"{ts.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if ts is not None else None


def _short(ts: datetime, day: datetime) -> str:
    """`14:31 UTC` on the incident's first day, the full date otherwise."""
    ts = ts.astimezone(UTC)
    same_day = ts.date() == day.astimezone(UTC).date()
    return f"{ts:%H:%M} UTC" if same_day else f"{ts:%Y-%m-%d %H:%M} UTC"


def incident_context(
    incident: Incident, *, status_page_url: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """Every field a template may use. A field the record lacks is None (never ""), so
    the `requires` check can name it."""
    from triage_ops.incidents import format_duration

    duration = incident.duration
    start = incident.started_at
    notes = [n for n in incident.notes if n.text]
    latest = notes[-1] if notes else None
    return {
        "id": incident.id,
        "severity": incident.severity or None,
        "title": incident.title or None,
        "issue": ISSUE.get(incident.severity),
        "status": incident.status,
        "status_label": incident.status.capitalize(),
        "impact": incident.impact or None,
        "started_at": _when(start),
        "resolved_at": _when(incident.resolved_at),
        "duration": format_duration(duration) if duration is not None else None,
        "root_cause": incident.root_cause or None,
        "resolution": incident.resolution or None,
        "opened_by": incident.opened_by or "unknown",
        "findings": list(incident.findings),
        "actions": [{**a.to_json(), "time": _short(a.ts, start)} for a in incident.actions],
        "notes": [{**n.to_json(), "time": _short(n.ts, start)} for n in notes],
        "latest_update": (
            {**latest.to_json(), "time": _short(latest.ts, start)} if latest else None
        ),
        "timeline": [
            {**t.to_json(), "time": f"{t.ts.astimezone(UTC):%Y-%m-%d %H:%M:%S}"}
            for t in incident.timeline
        ],
        "status_page_url": status_page_url,
        "generated_at": _when(now or datetime.now(UTC)),
    }


def _window_time(value: str, option: str, zone: ZoneInfo) -> datetime:
    text = " ".join(value.split())
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    raise UsageError(f"maintenance: {option} {value!r} is not a date and time (YYYY-MM-DD HH:MM)")


def maintenance_context(window: MaintenanceWindow) -> dict[str, Any]:
    timezone = window.timezone.strip() or None
    context: dict[str, Any] = {
        "window_start": None,
        "window_end": None,
        "timezone": timezone,
        "purpose": " ".join(window.purpose.split()) or None,
        "impact": " ".join(window.impact.split()) or None,
        "default_impact": DEFAULT_MAINTENANCE_IMPACT,
        **dict(window.extra),
    }
    if timezone is None:
        return context
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"maintenance: --timezone {timezone!r} is not a time zone (e.g. UTC, Europe/Berlin)"
        ) from None
    parsed: dict[str, datetime] = {}
    for key, value, option in (
        ("window_start", window.window_start, "--window-start"),
        ("window_end", window.window_end, "--window-end"),
    ):
        if value.strip():
            ts = _window_time(value, option, zone)
            parsed[key] = ts
            context[key] = {"date": f"{ts:%Y-%m-%d}", "time": f"{ts:%H:%M}", "iso": ts.isoformat()}
    if len(parsed) == 2 and parsed["window_end"] <= parsed["window_start"]:
        raise UsageError("maintenance: --window-end must be after --window-start")
    return context


# -- rendering --------------------------------------------------------------------------------


def _missing_line(info: TemplateInfo, missing: list[str], incident_id: str) -> str:
    them = "it" if len(missing) == 1 else "them"
    if info.source == "options":
        how = " ".join(_OPTION.get(name, f"--{name.replace('_', '-')} VALUE") for name in missing)
        return f"{info.name}: missing {', '.join(missing)} — give {them} with: {how}"
    hints = []
    for name in missing:
        hint = _RECORD.get(name, "").format(id=incident_id)
        if hint and hint not in hints:
            hints.append(hint)
    if not hints:
        return f"{info.name}: missing {', '.join(missing)} — the incident record has no value"
    return f"{info.name}: missing {', '.join(missing)} — record {them} with: {'; '.join(hints)}"


def render(
    name: str,
    *,
    incident: Incident | None = None,
    maintenance: MaintenanceWindow | None = None,
    status_page_url: str = "",
    now: datetime | None = None,
    directory: Path | None = None,
) -> Message:
    """Render one template. Raises UsageError with one line when a declared field is
    missing or the template itself is broken."""
    directory = directory or TEMPLATE_DIR
    info = template_info(name, directory=directory)
    if info.source == "incident":
        if incident is None:
            raise UsageError(f"{name}: needs --incident ID (see: triage-ops incident list)")
        context = incident_context(incident, status_page_url=status_page_url, now=now)
    else:
        context = maintenance_context(maintenance or MaintenanceWindow())
    missing = [f for f in info.requires if context.get(f) in (None, "", [], {})]
    if missing:
        raise UsageError(_missing_line(info, missing, incident.id if incident else ""))
    try:
        text = _environment(directory).get_template(info.path.name).render(context)
    except UndefinedError as exc:
        raise UsageError(f"{name}: the template uses a field that does not exist ({exc})") from None
    except TemplateSyntaxError as exc:
        raise UsageError(f"{name}: template error at line {exc.lineno}: {exc.message}") from None
    except (TemplateNotFound, SecurityError, TemplateError) as exc:
        raise UsageError(f"{name}: template error: {exc}") from None
    text = _BLANK_RUNS.sub("\n\n", _TRAILING_SPACE.sub("\n", text)).strip() + "\n"
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject: "):
        raise UsageError(f"{name}: the template must start with a 'Subject: ...' line")
    return Message(
        template=name,
        subject=first.removeprefix("Subject: ").strip(),
        body=rest.lstrip("\n"),
        incident=incident.id if incident is not None and info.source == "incident" else "",
    )


# -- sending ----------------------------------------------------------------------------------


class CommsSend:
    """Send one rendered message through one transport. Plan: the message and its masked
    destination; apply: hand it over; verify: the transport said it took it."""

    name = "comms.send"

    def __init__(self, message: Message, *, via: str) -> None:
        if via not in TRANSPORTS:
            raise UsageError(f"--via must be one of {', '.join(TRANSPORTS)}, not {via!r}")
        self.message = message
        self.via = via
        self.accepted: dict[str, Any] | None = None

    def destination(self, ctx: StepContext) -> str:
        if self.via == "slack":
            return ctx.clients.slack().address
        if self.via == "email":
            return ctx.clients.mailer().destination
        return "stdout"

    def plan(self, ctx: StepContext) -> Plan:
        destination = self.destination(ctx)
        what = self.message.template + (
            f" for {self.message.incident}" if self.message.incident else ""
        )
        return Plan(
            summary=f"send {what} via {self.via} to {destination}",
            changes=[
                {
                    "target": destination,
                    "before": None,
                    "after": f"message sent: {self.message.subject}",
                }
            ],
            dry_run={
                "via": self.via,
                "destination": destination,
                "subject": self.message.subject,
                "message": self.message.text,
            },
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        if self.via == "slack":
            slack = ctx.clients.slack().post(self.message.slack_text())
            self.accepted = {"via": "slack", **slack.to_json()}
        elif self.via == "email":
            headers = {"X-Triage-Incident": self.message.incident} if self.message.incident else {}
            mail = ctx.clients.mailer().send(
                self.message.subject, self.message.body, headers=headers
            )
            self.accepted = {"via": "email", **mail.to_json()}
        else:
            self.accepted = {"via": "stdout", "chars": len(self.message.text)}
        return {**self.accepted, "subject": self.message.subject}

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        accepted = self.accepted or {}
        if self.via == "slack":
            ok = accepted.get("http_status") == 200 and accepted.get("body") == "ok"
            seen = f"HTTP {accepted.get('http_status')} {accepted.get('body')!r}"
        elif self.via == "email":
            refused = ", ".join(accepted.get("refused") or {})
            ok = accepted.get("code") == 250 and bool(accepted.get("recipients")) and not refused
            seen = f"SMTP {accepted.get('code')}" + (f", refused: {refused}" if refused else "")
        else:
            ok, seen = accepted.get("via") == "stdout", "not printed"
        if ok:
            return []
        summary = f"{self.via} did not take the {self.message.template} message ({seen})"
        if not self.message.incident:
            return [ctx.finding(NOTICE_NOT_ACCEPTED, summary, via=self.via)]
        return [
            ctx.finding(
                NOT_ACCEPTED,
                summary,
                via=self.via,
                template=self.message.template,
                incident=self.message.incident,
            )
        ]


# -- the procedure: render from the record, send through the engine --------------------------


@dataclass(frozen=True)
class SendResult:
    message: Message
    destination: str
    outcome: ActionOutcome

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message.to_json(),
            "destination": self.destination,
            **self.outcome.to_json(),
        }


def render_message(
    config: OpsConfig,
    template: str,
    *,
    incident_id: str | None = None,
    window: MaintenanceWindow | None = None,
    audit: AuditLog | None = None,
    now: datetime | None = None,
    directory: Path | None = None,
) -> Message:
    """The message for `template`: an incident template from the incident's record (read
    from the audit timeline), a maintenance notice from its options."""
    info = template_info(template, directory=directory)
    incident = None
    if info.source == "incident":
        if not incident_id:
            raise UsageError(f"{template}: needs --incident ID (see: triage-ops incident list)")
        incident = load_incident(audit or timeline_for(config), incident_id)
    elif incident_id:
        raise UsageError(f"{template}: takes no --incident (its fields come from its options)")
    return render(
        template,
        incident=incident,
        maintenance=window,
        status_page_url=config.status_page_url,
        now=now,
        directory=directory,
    )


def send_message(
    config: OpsConfig,
    template: str,
    *,
    via: str,
    timeout: float,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    incident_id: str | None = None,
    window: MaintenanceWindow | None = None,
    audit: AuditLog | None = None,
    log: Callable[[str], None] = lambda message: None,
    now: datetime | None = None,
    directory: Path | None = None,
) -> SendResult:
    """Render, then send as an action through the engine (plan -> dry-run | confirm ->
    apply -> verify), and put a `comms.send` entry on the incident's timeline whatever
    happened (also a dry run, a refusal, a failure)."""
    from triage_ops.engine import standalone

    audit = audit or timeline_for(config)
    if not dry_run:
        audit.ensure_writable()
    message = render_message(
        config,
        template,
        incident_id=incident_id,
        window=window,
        audit=audit,
        now=now,
        directory=directory,
    )
    action = CommsSend(message, via=via)
    ctx = standalone.step_context(config, timeout=timeout, step_id="comms.send", log=log)
    destination = action.destination(ctx)  # a missing setting fails here, naming it
    try:
        outcome = standalone.run_action(
            action,
            ctx,
            dry_run=dry_run,
            yes=yes,
            confirm=confirm,
            audit=None,  # recorded below, as kind comms.send (checked writable above)
            incident=message.incident or None,
        )
    except UsageError as refused:
        _record(
            audit,
            message,
            None,
            via=via,
            destination=destination,
            dry_run=dry_run,
            error=str(refused),
        )
        raise
    _record(audit, message, outcome, via=via, destination=destination, dry_run=dry_run)
    return SendResult(message, destination, outcome)


def _record(
    audit: AuditLog,
    message: Message,
    outcome: ActionOutcome | None,
    *,
    via: str,
    destination: str,
    dry_run: bool,
    error: str = "",
) -> None:
    """The `comms.send` timeline entry (outcome None: the confirmation was refused)."""
    result = outcome.outcome if outcome is not None else "refused"
    plan = outcome.plan if outcome is not None else None
    audit.append(
        kind="comms.send",
        incident=message.incident or None,
        summary=f"{message.template} via {via} to {destination} -> {result}",
        plan=plan.to_json() if plan is not None else None,
        after=dict(outcome.after) if outcome is not None and outcome.after else None,
        outcome=result,
        findings=[f.to_json() for f in outcome.findings] if outcome is not None else [],
        details={
            "template": message.template,
            "via": via,
            "destination": destination,
            "subject": message.subject,
            "dry_run": dry_run,
            "error": outcome.error if outcome is not None else error,
        },
    )
