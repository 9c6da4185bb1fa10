"""The notifier's real receivers (an HTTP endpoint for Teams cards, an SMTP server) for the end-to-end stories."""

from tests.integration.notifier.conftest import mailbox, webhook

__all__ = ["mailbox", "webhook"]
