"""What can go wrong with a registry request, as exceptions the HTTP edge maps to status codes (and handlers log)."""

from __future__ import annotations


class RegistryError(Exception):
    status = 400


class NotFound(RegistryError):
    status = 404


class Forbidden(RegistryError):
    status = 403


class Conflict(RegistryError):
    """The request contradicts the state: out of order, unapproved, decided twice, lost a race."""

    status = 409


class IntegrityFailure(Conflict):
    """An artifact's bytes do not match the recorded sha256 (refused, and alerted with model.integrity_failed)."""
