"""The registry's HTTP API (`/v1`)."""
