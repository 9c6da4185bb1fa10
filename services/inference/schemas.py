"""Request and response bodies of the inference API (documented on `/docs`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, description="Texts to classify (1 to INFERENCE_MAX_TEXTS, non-blank).")
    all_probabilities: bool = Field(False, description="Also return every class's probability.")


class TextPrediction(BaseModel):
    prediction_id: str = Field(description="Quote it in `POST /v1/feedback` with the true label.")
    label: str
    probability: float
    probabilities: dict[str, float] | None = None


class PredictResponse(BaseModel):
    model_name: str
    model_version: int
    predictions: list[TextPrediction]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prediction_id: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=200, description="The true label (one the model knows).")


class FeedbackResponse(BaseModel):
    stored: str = Field(description="The S3 URI of the stored feedback record.")
    prediction_id: str
    label: str
    predicted: str
    model_name: str
    model_version: int
