"""SCRAM-SHA-256 password verifiers computed here, so `ALTER ROLE ... PASSWORD` never
carries the plaintext: the server stores exactly what it would have derived, and a
`log_statement = 'ddl'` server log or pg_stat_statements shows only the verifier (psql's
`\\password` does the same). RFC 5802 / RFC 7677, PostgreSQL's verifier format:
`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def verifier(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def new_password() -> str:
    """32 random bytes, URL-safe base64 (the runbook's `openssl rand -base64 32`, minus the
    `/` and `+` that break connection URLs)."""
    return secrets.token_urlsafe(32)
