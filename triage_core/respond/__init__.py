"""Draft replies: whether an email needs one, and a sandboxed jinja2 draft when it does."""

from triage_core.respond.generator import TONES, ResponseGenerator

__all__ = ["TONES", "ResponseGenerator"]
