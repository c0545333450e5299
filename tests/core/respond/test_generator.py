from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from triage_core.config import ResponseConfig
from triage_core.errors import ConfigError
from triage_core.message import Email
from triage_core.respond import ResponseGenerator

REF = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)
ASKING = (
    "Hi Bob,\n\nCould you send me the Q3 report by Friday?\nI also need the budget.\n\n"
    "Thanks,\nDana"
)


def mail(**fields: Any) -> Email:
    base: dict[str, Any] = {
        "subject": "Q3 report",
        "from_name": "Dana Smith",
        "from_addr": "dana@partner.org",
        "to": ("me@example.com",),
        "date": REF,
        "newest": ASKING,
    }
    base.update(fields)
    return Email(**base)


def generator(**config: Any) -> ResponseGenerator:
    return ResponseGenerator(ResponseConfig(**config))


def test_full_draft_neutral() -> None:
    draft = generator(signature="Bob\nExample Corp")(mail(), category="request", priority="P2")
    assert draft == (
        "Subject: Re: Q3 report\n"
        "\n"
        "Hi Dana,\n"
        "\n"
        "Thanks for your request.\n"
        "\n"
        "You asked:\n"
        "- Could you send me the Q3 report by Friday?\n"
        "- I also need the budget.\n"
        "\n"
        "I have noted the timing (Friday 28 Nov) and will come back to you before then.\n"
        "\n"
        "Best regards,\n"
        "Bob\n"
        "Example Corp"
    )


def test_formal_and_friendly_tones() -> None:
    email = mail(newest="Could you confirm the meeting?")
    formal = generator(tone="formal")(email, category="question", priority="P3")
    assert formal == (
        "Subject: Re: Q3 report\n\nDear Dana Smith,\n\nThank you for your question.\n\n"
        "You have asked: Could you confirm the meeting?\n\n"
        "I will look into it and reply with an answer shortly.\n\nKind regards,"
    )
    friendly = generator(tone="friendly")(email, category="question", priority="P3")
    assert friendly is not None
    assert friendly.splitlines()[2] == "Hi Dana,"
    assert "Great question, thanks for asking!" in friendly
    assert friendly.endswith("Cheers,")


def test_unknown_tone_is_a_config_error_at_init() -> None:
    with pytest.raises(ConfigError, match=r"response\.tone"):
        generator(tone="sarcastic")


@pytest.mark.parametrize(
    ("category", "line"),
    [
        ("meeting", "I will check my calendar for Friday 28 Nov and confirm shortly."),
        ("incident", "Noted on timing: Friday 28 Nov."),
        ("complaint", "I'm sorry about this, and thank you for letting us know."),
        ("billing", "Thanks for your message about billing."),
        ("personal", "Thanks for your note, great to hear from you!"),
        ("other", "Thanks for your message."),
        ("a-custom-label", "Thanks for your message."),  # default.j2
    ],
)
def test_template_per_category(category: str, line: str) -> None:
    draft = generator()(mail(), category=category, priority="P2")
    assert draft is not None
    assert line in draft.splitlines()


def test_urgent_priority_changes_the_promise() -> None:
    draft = generator()(mail(), category="request", priority="P0")
    assert draft is not None and "I am on it now." in draft.splitlines()


@pytest.mark.parametrize("category", ["spam", "newsletter", "notification"])
def test_never_reply_categories(category: str) -> None:
    gen = generator()
    assert gen.needs_reply(mail(), category=category) is False
    assert gen(mail(), category=category, priority="P1") is None


@pytest.mark.parametrize(
    "fields",
    [
        {"list_id": "<l.example.org>"},
        {"list_unsubscribe": "<mailto:u@x>"},
        {"precedence": "bulk"},
        {"auto_submitted": "auto-replied"},
        {"from_addr": "no-reply@shop.example"},
        {"from_addr": "noreply+123@github.com"},
        {"from_addr": "do_not_reply@bank.example"},
        {"from_addr": "MAILER-DAEMON@mx.example"},
        {"reply_to": "noreply@shop.example"},
        {"from_addr": ""},
    ],
)
def test_no_reply_for_bulk_automated_or_no_reply_senders(fields: dict[str, str]) -> None:
    gen = generator()
    assert gen.needs_reply(mail(**fields), category="request") is False
    assert gen(mail(**fields), category="request", priority="P1") is None


@pytest.mark.parametrize(
    ("category", "newest", "expected"),
    [
        ("request", "Here is the file.", True),  # implied by the category
        ("question", "Just wondering about the roadmap.", True),
        ("meeting", "Invitation: sync", True),
        ("complaint", "This is the third time it broke.", True),
        ("incident", "Disk is full on db-2.", True),
        ("billing", "Your invoice is attached.", False),  # says, does not ask
        ("billing", "Can you resend the invoice?", True),
        ("personal", "Had a great time yesterday.", False),
        ("personal", "Are you free on Saturday?", True),
        ("other", "FYI.", False),
        ("other", "Please review.", True),
    ],
)
def test_needs_reply(category: str, newest: str, expected: bool) -> None:
    assert generator().needs_reply(mail(newest=newest), category=category) is expected


@pytest.mark.parametrize(
    "payload",
    [
        "{{ 7*7 }}",
        "{% for x in range(3) %}loop{% endfor %}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ config }}{# comment #}",
    ],
)
def test_email_text_is_never_template_source(payload: str) -> None:
    email = mail(
        subject=f"Report {payload}",
        from_name=f"Dana {payload}",
        newest=f"Could you send {payload} by Friday?",
    )
    draft = generator()(email, category="request", priority="P2")
    assert draft is not None
    assert f"Subject: Re: Report {payload}" in draft
    assert f"- Could you send {payload} by Friday?" in draft or (
        f"You asked: Could you send {payload} by Friday?" in draft
    )
    assert "49" not in draft and "looploop" not in draft and "<class" not in draft


def test_hostile_override_template_cannot_escape_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "request.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    gen = generator(templates_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"reply template request\.j2"):
        gen(mail(), category="request", priority="P2")


def test_strict_undefined_in_an_override(tmp_path: Path) -> None:
    (tmp_path / "request.j2").write_text("{{ no_such_variable }}")
    with pytest.raises(ConfigError, match="no_such_variable"):
        generator(templates_dir=str(tmp_path))(mail(), category="request", priority="P2")


def test_templates_dir_overrides_by_name_and_falls_back(tmp_path: Path) -> None:
    (tmp_path / "request.j2").write_text(
        "{{ greeting }} {{ asks | length }} asks, due {{ deadlines | join(',') }}."
    )
    gen = generator(templates_dir=str(tmp_path))
    assert gen(mail(), category="request", priority="P2") == "Hi Dana, 2 asks, due Friday 28 Nov."
    question = gen(mail(), category="question", priority="P2")  # shipped template
    assert question is not None and question.startswith("Subject: Re: Q3 report")


def test_templates_dir_overrides_layout(tmp_path: Path) -> None:
    (tmp_path / "_layout.j2").write_text("LAYOUT {% block opening %}{% endblock %}")
    draft = generator(templates_dir=str(tmp_path))(mail(), category="request", priority="P2")
    assert draft == "LAYOUT Thanks for your request."


def test_missing_templates_dir_is_a_config_error_at_first_use(tmp_path: Path) -> None:
    gen = generator(templates_dir=str(tmp_path / "missing"))  # no I/O in __init__
    with pytest.raises(ConfigError, match="not a directory"):
        gen(mail(), category="request", priority="P2")


def test_category_name_cannot_pick_a_path(tmp_path: Path) -> None:
    draft = generator()(mail(), category="../../etc/passwd", priority="P2")
    assert draft is not None and "Thanks for your message." in draft


def test_templates_compiled_once(tmp_path: Path) -> None:
    (tmp_path / "request.j2").write_text("first")
    gen = generator(templates_dir=str(tmp_path))
    assert gen(mail(), category="request", priority="P2") == "first"
    (tmp_path / "request.j2").write_text("second")
    assert gen(mail(), category="request", priority="P2") == "first"


def test_deterministic() -> None:
    gen = generator()
    assert len({gen(mail(), category="request", priority="P2") for _ in range(5)}) == 1
