"""What the routes need, built once in `bootstrap` and read from `request.app.state.deps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.inference.batcher import Batcher
from services.inference.capture import CaptureBuffer
from services.inference.predictions import FeedbackWriter, RecentPredictions
from services.inference.settings import InferenceSettings
from services.inference.swap import ModelManager


@dataclass
class InferenceDeps:
    settings: InferenceSettings
    manager: ModelManager
    batcher: Batcher
    capture: CaptureBuffer
    recent: RecentPredictions
    feedback: FeedbackWriter
    bucket: str


async def _deps(request: Request) -> InferenceDeps:
    deps: InferenceDeps = request.app.state.deps
    return deps


Deps = Annotated[InferenceDeps, Depends(_deps)]
