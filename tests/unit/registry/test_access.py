"""Tokens, roles, login cookies and settings validation (no secret in any error)."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from services.registry.auth import Access, Principal
from services.registry.secrets import TokenFilter
from services.registry.settings import RegistrySettings

TOKENS = {
    "approver-token-0123456789": {"actor": "ana", "roles": ["approver"]},
    "promoter-token-0123456789": {"actor": "carl", "roles": ["promoter"]},
}


def _access(**extra: str) -> Access:
    return Access.from_settings(RegistrySettings(tokens=json.dumps(TOKENS), **extra))


def test_tokens_map_to_actors_and_roles_separate_approving_from_promoting() -> None:
    access = _access()
    ana = access.authenticate("approver-token-0123456789")
    carl = access.authenticate("promoter-token-0123456789")
    assert ana == Principal("ana", ("approver",)) and ana.may("approve") and not ana.may("promote")
    assert carl is not None and carl.may("promote") and not carl.may("approve")
    assert access.authenticate("approver-token-012345678") is None
    assert access.authenticate("") is None
    assert Principal("d", ("admin",)).may("approve") and Principal("d", ("admin",)).may("promote")


def test_session_cookies_are_signed_expire_and_die_with_a_token_change() -> None:
    access = _access()
    cookie = access.session(Principal("ana", ("approver",)), now=1000.0)
    assert access.from_session(cookie, now=1001.0) == Principal("ana", ("approver",))
    assert access.from_session(cookie, now=1000.0 + access.session_seconds + 1) is None
    payload, _, signature = cookie.partition(".")
    forged = Principal("ana", ("admin",))
    assert access.from_session(access.session(forged).split(".")[0] + "." + signature) is None
    assert access.from_session(payload + ".") is None
    rotated = Access.from_settings(
        RegistrySettings(tokens=json.dumps({"another-token-0123456789": TOKENS["approver-token-0123456789"]}))
    )
    assert rotated.from_session(cookie, now=1001.0) is None


@pytest.mark.parametrize(
    "tokens",
    [
        '{"s3cr3t-x": {"actor": "a", "roles": ["approver"]}}',
        '{"s3cr3t-long-enough-token": {"actor": "a", "roles": ["god"]}}',
        '{"s3cr3t-long-enough-token": {"roles": ["approver"]}}',
        "s3cr3t not json",
    ],
)
def test_bad_token_configuration_is_refused_without_echoing_secrets(tokens: str) -> None:
    with pytest.raises(ValidationError) as info:
        RegistrySettings(tokens=tokens)
    assert "s3cr3t" not in str(info.value) and "REGISTRY_TOKENS" in str(info.value)


def test_policy_covers_every_environment_and_refuses_unknown_ones() -> None:
    settings = RegistrySettings(policy={"prod": {"four_eyes": True, "min_value": 0.9}})
    assert settings.policy["prod"].min_value == 0.9 and settings.policy["dev"].auto_approve
    with pytest.raises(ValidationError):
        RegistrySettings(policy={"qa": {}})


def test_the_log_filter_masks_configured_tokens() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, "f", 1, "Authorization: Bearer %s", ("approver-token-0123456789",), None
    )
    TokenFilter(list(TOKENS)).filter(record)
    assert record.getMessage() == "Authorization: Bearer ***"


async def test_tracking_records_why_a_version_is_not_linked(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.registry.tracking import Tracker

    calls: list[str] = []

    def linker(version: dict, project: str, entity: str | None) -> str:
        calls.append(project)
        if version["version"] == 2:
            raise ConnectionError("W&B unreachable")
        return f"model-registry/{version['model_name']}:v{version['version']}"

    tracker = Tracker("proj", None, linker)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    unlinked = await tracker.link({"model_name": "m", "version": 1})
    assert unlinked["wandb"]["linked"] is False and "WANDB_API_KEY" in unlinked["wandb"]["reason"] and calls == []
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert (await tracker.link({"model_name": "m", "version": 1}))["wandb"] == {
        "linked": True,
        "path": "model-registry/m:v1",
    }
    failed = await tracker.link({"model_name": "m", "version": 2})
    assert failed["wandb"]["linked"] is False and "unreachable" in failed["wandb"]["reason"]
