"""Who may change what: bearer tokens from configuration, roles, and the dashboard's signed login cookie.

Tokens are compared in constant time against every configured token (no early exit that would tell an attacker how
close a guess was). Roles: `approver` approves and rejects, `promoter` promotes and rolls back, `admin` does both.
The dashboard keeps no token in the browser: logging in exchanges it for a cookie holding the actor and roles,
signed with HMAC-SHA256 and expiring; changing the configured tokens (or REGISTRY_SESSION_SECRET) voids every cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from services.registry.settings import RegistrySettings, TokenGrant

PERMISSIONS = {"approve": {"approver", "admin"}, "promote": {"promoter", "admin"}}


@dataclass(frozen=True)
class Principal:
    actor: str
    roles: tuple[str, ...]

    def may(self, action: str) -> bool:
        return bool(PERMISSIONS[action] & set(self.roles))


class Access:
    def __init__(self, grants: dict[str, TokenGrant], session_key: bytes, session_seconds: int = 8 * 3600) -> None:
        self._grants = [(token.encode(), grant) for token, grant in grants.items()]
        self._key = session_key
        self.session_seconds = session_seconds

    @classmethod
    def from_settings(cls, settings: RegistrySettings) -> Access:
        grants = settings.grants()
        if settings.session_secret is not None:
            key = settings.session_secret.get_secret_value().encode()
        else:  # derived from the tokens: every replica with the same configuration accepts the same cookies
            key = hashlib.sha256(b"registry-session\0" + b"\0".join(sorted(t.encode() for t in grants))).digest()
        return cls(grants, key)

    @property
    def configured(self) -> bool:
        return bool(self._grants)

    def authenticate(self, token: str) -> Principal | None:
        offered = token.encode()
        found: TokenGrant | None = None
        for known, grant in self._grants:
            if hmac.compare_digest(offered, known):  # keep comparing: the time does not depend on which matched
                found = grant
        return Principal(found.actor, tuple(found.roles)) if found else None

    def session(self, principal: Principal, now: float | None = None) -> str:
        body = json.dumps(
            {"a": principal.actor, "r": list(principal.roles), "e": (now or time.time()) + self.session_seconds}
        )
        payload = base64.urlsafe_b64encode(body.encode()).decode()
        return f"{payload}.{self._sign(payload)}"

    def from_session(self, cookie: str, now: float | None = None) -> Principal | None:
        payload, _, signature = cookie.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except ValueError:
            return None
        if float(data.get("e", 0)) < (now or time.time()):
            return None
        return Principal(str(data["a"]), tuple(data["r"]))

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
