"""The demo's stages, in order. Each module has `run(ctx: DemoContext) -> None`; later issues append theirs."""

STAGES: tuple[str, ...] = (
    "shared.demo.stage_10_data",
    "shared.demo.stage_20_training",
    "shared.demo.stage_30_registry",
    "shared.demo.stage_40_serving",
    "shared.demo.stage_50_monitoring",
    # Keep the alerts stage last: it prints what the notifier delivered during all the stages before it.
    "shared.demo.stage_90_alerts",
)
