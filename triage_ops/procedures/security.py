"""`triage-ops security check` (the runbook's "Daily Security Checks") and the weekly
certificate and vulnerability items.

What the runbook does, and what we do instead:
- `openssl s_client ... | openssl x509 -noout -dates` prints dates for a human to compare;
  here each configured endpoint's certificate is fetched with a timeout and its days to
  expiry judged against `cert_warn_days` (an expired or unverifiable certificate is
  critical).
- `kubectl logs -f ... | grep -E "(401|403|429)"` follows logs forever and matches any
  line containing those digits (a Message-ID, a byte count); here the API's own
  `http_requests_total` counter gives the 401/403/429 share of requests over the window.
- `trivy image email-triage:latest` needs trivy and a registry at 3 a.m.; here the JSON
  report a CI job wrote (`trivy image --format json -o report.json`) is summarised by
  severity, with its age (the scan's own `CreatedAt`, not the file's: a copied report
  looks new).

`security check` runs the three as one runbook (`security_runbook`), built here rather
than in runbooks/ because its parameters are the command's options.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage_ops.clients.errors import ClientError
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding

if TYPE_CHECKING:
    from triage_ops.engine.runbook import Runbook

AUTH_SHARE = (
    'sum by (status) (increase(http_requests_total{{job="email-triage",status=~"401|403|429"}}'
    '[{window}])) / scalar(sum(increase(http_requests_total{{job="email-triage"}}[{window}])))'
)


def endpoints(ctx: StepContext) -> list[tuple[str, int]]:
    out = []
    for item in str(ctx.params.get("endpoints", ctx.config.tls_endpoints)).split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "443")
        out.append((host or item, int(port or 443)))
    return out


def certificate(
    host: str, port: int, *, timeout: float, cafile: str | None = None
) -> dict[str, Any]:
    """The peer certificate's notAfter and subject, verified against the system (or given)
    CA store, within `timeout` for connect and handshake together. Raises ssl.SSLError
    (unverifiable) or OSError (unreachable; TimeoutError when it never answered)."""
    context = ssl.create_default_context(cafile=cafile)
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.settimeout(max(0.01, deadline - time.monotonic()))
        with context.wrap_socket(raw, server_hostname=host) as tls:
            cert = tls.getpeercert()
    assert cert is not None
    not_after = ssl.cert_time_to_seconds(str(cert["notAfter"]))
    return {
        "not_after": datetime.fromtimestamp(not_after, UTC).isoformat(),
        "days_left": round((not_after - time.time()) / 86400, 1),
        "subject": dict(x[0] for x in cert.get("subject", ())),  # type: ignore[misc]
    }


def check_certificates(ctx: StepContext) -> list[Finding]:
    """Every endpoint at once, each within 90% of the step's timeout (so one black-holed
    endpoint neither delays the others nor gets the whole step abandoned)."""
    from concurrent.futures import ThreadPoolExecutor

    targets = endpoints(ctx)
    if not targets:
        ctx.note("no tls_endpoints configured")
        return []
    budget = round(0.9 * ctx.timeout, 2)
    cafile = ctx.params.get("cafile")
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        results = list(pool.map(lambda t: _probe(*t, timeout=budget, cafile=cafile), targets))
    warn_days = float(ctx.params.get("warn_days", ctx.config.cert_warn_days))
    findings = []
    for (host, port), result in zip(targets, results, strict=True):
        where = f"{host}:{port}"
        if isinstance(result, ssl.SSLCertVerificationError):
            findings.append(
                ctx.finding(
                    "TRI-SEC-002",
                    f"{where}: certificate does not verify ({result.verify_message})",
                    endpoint=where,
                )
            )
        elif isinstance(result, BaseException):
            if isinstance(result, TimeoutError):
                why = f"no TLS answer within {budget:g} s"
            elif isinstance(result, ConnectionRefusedError):
                why = "connection refused"
            else:
                why = f"TLS handshake failed ({type(result).__name__}: {result})"
            findings.append(ctx.finding("TRI-SEC-003", f"{where}: {why}", endpoint=where))
        elif result["days_left"] < warn_days:
            findings.append(
                ctx.finding(
                    "TRI-SEC-001",
                    f"{where}: certificate expires in {result['days_left']:.0f} days"
                    f" ({result['not_after']})",
                    endpoint=where,
                    **result,
                )
            )
        else:
            ctx.note(f"{where}: {result['days_left']:.0f} days left")
    return findings


def _probe(host: str, port: int, *, timeout: float, cafile: str | None) -> dict[str, Any] | OSError:
    try:
        return certificate(host, port, timeout=timeout, cafile=cafile)
    except OSError as exc:  # ssl.SSLError is an OSError
        return exc


def check_auth_failures(ctx: StepContext) -> list[Finding]:
    """401/403/429 share of API requests over the window (default 24h)."""
    window = str(ctx.params.get("window", "24h"))
    limit = float(ctx.params.get("auth_failure_ratio", 0.05))
    if not ctx.config.prometheus_url:
        ctx.note("no prometheus_url configured: refused requests not checked")
        return []
    try:
        rows = ctx.clients.prometheus().query(AUTH_SHARE.format(window=window))
    except ClientError as exc:
        return [ctx.finding("TRI-PROM-001", f"cannot read metrics: {exc}", system=exc.system)]
    shares = {r["labels"].get("status", "?"): r["value"] for r in rows if r["value"] == r["value"]}
    total = sum(shares.values())
    if total > limit:
        return [
            ctx.finding(
                "TRI-SEC-004",
                f"{total:.1%} of API requests in {window} were refused"
                f" ({', '.join(f'{k}: {v:.1%}' for k, v in sorted(shares.items()))})",
                shares={k: round(v, 4) for k, v in sorted(shares.items())},
                threshold=limit,
            )
        ]
    ctx.note(f"401/403/429 share {total:.2%} over {window}")
    return []


def summarise_trivy(path: Path) -> dict[str, Any]:
    """Counts by severity and the worst few findings of a `trivy --format json` report."""
    data = json.loads(path.read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    worst: list[dict[str, str]] = []
    for result in data.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            severity = str(vuln.get("Severity", "UNKNOWN")).upper()
            counts[severity] = counts.get(severity, 0) + 1
            if severity in {"CRITICAL", "HIGH"} and len(worst) < 5:
                worst.append(
                    {
                        "id": str(vuln.get("VulnerabilityID", "?")),
                        "package": str(vuln.get("PkgName", "?")),
                        "severity": severity,
                        "fixed_in": str(vuln.get("FixedVersion") or "no fix yet"),
                    }
                )
    created = data.get("CreatedAt")
    try:
        scanned = datetime.fromisoformat(str(created)).timestamp()
    except ValueError:
        scanned = path.stat().st_mtime
    return {
        "artifact": data.get("ArtifactName", "?"),
        "created_at": created,
        "age_days": round((time.time() - scanned) / 86400, 1),
        "counts": dict(sorted(counts.items())),
        "worst": worst,
    }


def check_vulnerabilities(ctx: StepContext) -> list[Finding]:
    report_path = str(ctx.params.get("trivy_report", ctx.config.trivy_report))
    if not report_path:
        ctx.note("no trivy_report configured")
        return []
    path = Path(report_path)
    max_age = float(ctx.params.get("report_max_age_days", 7))
    try:
        summary = summarise_trivy(path)
    except OSError as exc:
        return [ctx.finding("TRI-SEC-005", f"trivy report {path}: {exc.strerror}", path=str(path))]
    except (ValueError, AttributeError, TypeError):
        return [
            ctx.finding("TRI-SEC-005", f"trivy report {path} is not trivy JSON", path=str(path))
        ]
    findings = []
    critical = summary["counts"].get("CRITICAL", 0)
    high = summary["counts"].get("HIGH", 0)
    if critical or high:
        findings.append(
            ctx.finding(
                "TRI-SEC-006",
                f"{summary['artifact']}: {critical} critical and {high} high vulnerabilities",
                **summary,
            )
        )
    if summary["age_days"] > max_age:
        findings.append(
            ctx.finding(
                "TRI-SEC-007",
                f"trivy report is {summary['age_days']:.0f} days old (max {max_age:g})",
                path=str(path),
                age_days=summary["age_days"],
            )
        )
    if not findings:
        ctx.note(f"{summary['artifact']}: no critical or high vulnerabilities")
    return findings


# -- `triage-ops security check` ----------------------------------------------------------

_HERE = "triage_ops.procedures.security"
_STEPS = (
    ("certificates", "TLS certificates of tls_endpoints", "check_certificates",
     ("TRI-SEC-001", "TRI-SEC-002", "TRI-SEC-003")),
    ("auth-failures", "401/403/429 share of API requests", "check_auth_failures",
     ("TRI-SEC-004", "TRI-PROM-001")),
    ("vulnerabilities", "Image vulnerability report (trivy)", "check_vulnerabilities",
     ("TRI-SEC-005", "TRI-SEC-006", "TRI-SEC-007")),
)  # fmt: skip


def security_runbook() -> Runbook:
    """The runbook's "Daily Security Checks" as three concurrent checks."""
    from triage_ops.engine.runbook import Runbook, Step

    return Runbook(
        id="security-check",
        title="Security check: certificates, refused requests, image vulnerabilities",
        source="Security Operations > Daily Security Checks",
        summary="Certificates close to expiry or not verifying, many refused API requests,"
        " critical or high vulnerabilities in the image.",
        steps=tuple(
            Step(id=sid, kind="check", title=title, run=f"{_HERE}:{fn}", findings=codes)
            for sid, title, fn, codes in _STEPS
        ),
        command="triage-ops security check",
    )
