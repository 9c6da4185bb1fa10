"""The dev stack points the notifier at the local receivers, but never over channels the user configured."""

from __future__ import annotations

from shared.devstack import notifier_receiver_env


def test_defaults_point_at_the_local_receivers() -> None:
    env = notifier_receiver_env({})
    assert env["NOTIFIER_TEAMS_WEBHOOK_URL"] == "http://127.0.0.1:8026/webhook/devstack"
    assert (env["NOTIFIER_SMTP_HOST"], env["NOTIFIER_SMTP_PORT"], env["NOTIFIER_SMTP_SECURITY"]) == (
        "127.0.0.1",
        "8025",
        "none",
    )


def test_real_channels_configured_by_the_user_are_kept() -> None:
    user = {"NOTIFIER_TEAMS_WEBHOOK_URL": "https://example.logic.azure.com/x", "NOTIFIER_SMTP_HOST": "smtp.corp"}
    env = notifier_receiver_env(user)
    assert "NOTIFIER_TEAMS_WEBHOOK_URL" not in env and "NOTIFIER_SMTP_HOST" not in env
    assert "NOTIFIER_SMTP_PORT" not in env and "NOTIFIER_SMTP_SECURITY" not in env
