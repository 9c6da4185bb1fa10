"""The demo's stages, in order. Each module has `run(ctx: DemoContext) -> None`; later issues append theirs."""

STAGES: tuple[str, ...] = ()
