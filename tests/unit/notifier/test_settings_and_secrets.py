"""Start-up validation of the notifier's settings, and secrets kept out of reprs, reasons and log lines."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr, ValidationError

from services.notifier.channels import mask_url
from services.notifier.secrets import Redactor, SecretFilter
from services.notifier.settings import NotifierSettings

WEBHOOK = "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=S3CRET-SIG"


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = NotifierSettings(
        teams_webhook_url=SecretStr(WEBHOOK),
        smtp_host="smtp.example.com",
        smtp_username="u",
        smtp_password="pw-1234",
        email_to=["team@example.com"],
    )
    assert "S3CRET" not in repr(settings) and "pw-1234" not in repr(settings)
    assert settings.configured() == ("teams", "email")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"teams_webhook_url": "http://teams.example.com/hook"}, "must be https"),
        (
            {"smtp_host": "smtp.example.com", "smtp_security": "none", "smtp_username": "u", "smtp_password": "p"},
            "unencrypted",
        ),
        ({"smtp_host": "smtp.example.com", "smtp_password": "p"}, "without NOTIFIER_SMTP_USERNAME"),
        ({"smtp_host": "smtp.example.com"}, "name no recipients"),
        ({"email_to": ["nobody"]}, "not email addresses"),
    ],
)
def test_unsafe_or_incomplete_settings_refuse_to_start(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        NotifierSettings(**values)  # type: ignore[arg-type]
    assert "teams.example.com/hook" not in str(caught.value)  # the error never echoes the secret


def test_plain_http_webhook_and_smtp_are_allowed_on_loopback_only() -> None:
    NotifierSettings(teams_webhook_url=SecretStr("http://127.0.0.1:8026/webhook/x"))
    NotifierSettings(
        smtp_host="localhost", smtp_security="none", smtp_username="u", smtp_password="p", email_to=["a@b.c"]
    )


def test_mask_url_keeps_only_scheme_and_host() -> None:
    assert mask_url(WEBHOOK) == "https://prod-01.westeurope.logic.azure.com/…"


def test_redactor_scrubs_the_secret_its_encodings_and_the_url_path() -> None:
    redact = Redactor([WEBHOOK, "pw-1234"])
    text = f"POST {WEBHOOK} failed; path /workflows/abc/triggers/manual/paths/invoke?sig=S3CRET-SIG; pw pw-1234"
    assert "S3CRET" not in redact(text) and "pw-1234" not in redact(text)
    assert redact("nothing secret") == "nothing secret"


def test_log_filter_rewrites_library_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    guard = SecretFilter(Redactor([WEBHOOK]))
    logger = logging.getLogger("httpx")
    logger.addFilter(guard)
    try:
        with caplog.at_level(logging.INFO, logger="httpx"):
            logger.info('HTTP Request: %s %s "%s"', "POST", WEBHOOK, "HTTP/1.1 202 Accepted")
            try:
                raise ValueError(f"boom at {WEBHOOK}")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.removeFilter(guard)
    assert "S3CRET" not in caplog.text
    assert 'HTTP Request: POST *** "HTTP/1.1 202 Accepted"' in caplog.text


@pytest.mark.parametrize("value", ['["a@example.com", "b@example.com"]', "a@example.com, b@example.com"])
def test_default_recipients_as_json_or_comma_separated(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NOTIFIER_EMAIL_TO", value)
    assert NotifierSettings().email_to == ("a@example.com", "b@example.com")
