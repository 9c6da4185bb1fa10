"""The notifier: alert-worthy domain events to MS Teams (Adaptive Cards) and email, delivered once, never lost."""
