"""The monitor service: scheduled drift detection (Evidently) and pipeline health (port 8005)."""
