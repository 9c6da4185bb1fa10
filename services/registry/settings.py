"""The registry's settings (`REGISTRY_*`), validated at start-up.

The approval policy is configuration, per environment (`REGISTRY_POLICY`, JSON). API tokens (`REGISTRY_TOKENS`,
JSON `{token: {"actor": ..., "roles": [...]}}`) are secrets: held as `SecretStr`, never echoed by a validation error.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import ENVIRONMENTS

log = logging.getLogger(__name__)
Role = Literal["approver", "promoter", "admin"]
ROLES: tuple[str, ...] = ("approver", "promoter", "admin")
GateMetric = Literal["accuracy", "macro_f1", "mcc"]


class EnvPolicy(BaseModel):
    """What approval for one environment requires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_approve: bool = Field(False, description="Approve without a person when every gate passes.")
    metric: GateMetric = "macro_f1"
    min_value: float = Field(0.5, ge=0, le=1, description="Lowest value of `metric` on the candidate's test split.")
    min_improvement: float = Field(
        0.0, ge=-1, le=1, description="The bootstrap interval's lower bound of (candidate - champion) must exceed it."
    )
    confidence: float = Field(0.95, gt=0.5, lt=1)
    max_slice_gap: float = Field(0.25, ge=0, le=1, description="Largest accuracy gap between groups of any slice.")
    four_eyes: bool = Field(False, description="The approver may not be who triggered the training.")


def default_policy() -> dict[str, EnvPolicy]:
    return {
        "dev": EnvPolicy(auto_approve=True),
        "staging": EnvPolicy(),
        "prod": EnvPolicy(min_value=0.6, four_eyes=True),
    }


class TokenGrant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str = Field(min_length=1, max_length=100)
    roles: tuple[Role, ...] = Field(min_length=1)


class RegistrySettings(BaseSettings):
    """Policy, access, evaluation and promotion settings of the registry."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True, hide_input_in_errors=True)

    database_url: str | None = Field(None, description="Override of MLOPS_DATABASE_URL for the registry only.")
    policy: dict[str, EnvPolicy] = Field(default_factory=default_policy, description="JSON: env -> gates.")
    tokens: SecretStr = Field(SecretStr("{}"), description='JSON {token: {"actor": "ana", "roles": ["approver"]}}.')
    session_secret: SecretStr | None = Field(None, description="Key of dashboard login cookies (default: tokens).")
    auto_promote_dev: bool = Field(True, description="Promote to dev right after an automatic dev approval.")
    bootstrap_resamples: int = Field(1000, ge=100, le=20000)
    slice_min_group: int = Field(5, ge=1, description="Groups smaller than this are shown but not gated on.")
    eval_workers: int = Field(1, ge=1, le=8, description="Threads that load and run models (CPU-bound).")
    eval_batch_size: int = Field(64, ge=1, le=1024)
    cache_dir: str | None = Field(None, description="Verified artifacts and test sets (default <data_dir>/registry).")
    wandb_project: str = "mlops-registry"
    wandb_entity: str | None = None
    plot_url_seconds: int = Field(3600, ge=60, le=7 * 86400, description="Life of presigned plot links.")

    @field_validator("policy", mode="after")
    @classmethod
    def _every_environment(cls, policy: dict[str, EnvPolicy]) -> dict[str, EnvPolicy]:
        unknown = set(policy) - set(ENVIRONMENTS)
        if unknown:
            raise ValueError(f"policy names unknown environments: {sorted(unknown)}")
        return {env: policy.get(env, default_policy()[env]) for env in ENVIRONMENTS}

    @model_validator(mode="after")
    def _valid_tokens(self) -> RegistrySettings:
        self.grants()  # raises a ValueError without the token values
        return self

    def grants(self) -> dict[str, TokenGrant]:
        """Token -> grant. Tokens shorter than 16 characters are refused (guessable)."""
        try:
            raw: Any = json.loads(self.tokens.get_secret_value() or "{}")
        except ValueError:
            raise ValueError("REGISTRY_TOKENS is not JSON") from None
        if not isinstance(raw, dict):
            raise ValueError('REGISTRY_TOKENS must be a JSON object {token: {"actor": ..., "roles": [...]}}')
        grants = {}
        for n, (token, grant) in enumerate(raw.items()):
            if len(token) < 16:
                raise ValueError(f"REGISTRY_TOKENS entry #{n + 1}: a token needs at least 16 characters")
            try:
                grants[token] = TokenGrant.model_validate(grant)
            except ValueError:
                raise ValueError(
                    f"REGISTRY_TOKENS entry #{n + 1}: needs an actor and one or more roles among {ROLES}"
                ) from None
        return grants

    def secrets(self) -> list[str]:
        values = list(self.grants())
        if self.session_secret is not None:
            values.append(self.session_secret.get_secret_value())
        return values
