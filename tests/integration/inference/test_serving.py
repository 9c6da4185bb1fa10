"""Predictions, feedback and capture through the real app, with a real tiny model from the emulator's S3."""

from __future__ import annotations

import httpx
import pytest

from shared.capture import CaptureRecord, FeedbackRecord, capture_prefix, feedback_prefix
from shared.textnorm import NormalisationConfig, normalise
from tests.integration.inference.conftest import MODEL, StartInference, World, s3_keys, s3_text, wait_serving
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration


def test_predict_feedback_and_capture(world: World, start_inference: StartInference) -> None:
    world.promote(world.v1, 1, publish=False)
    events = world.events()
    bucket = world.topology.home_bucket
    captured_before = set(s3_keys(bucket, capture_prefix("dev", MODEL)))  # other tests' traffic (same bucket)
    feedback_before = set(s3_keys(bucket, feedback_prefix("dev")))
    with start_inference() as url:
        model = wait_serving(url, 1)
        assert model["sha256"] == world.v1.artifact_sha256
        assert model["lineage"]["dataset"] == world.v1.dataset
        assert httpx.get(f"{url}/readyz").status_code == 200
        texts = ["I was charged twice for my Pro subscription", "my order #123456 has not arrived yet"]
        answer = httpx.post(f"{url}/v1/predict", json={"texts": texts, "all_probabilities": True})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["model_name"], body["model_version"]) == (MODEL, 1)
        assert answer.headers["x-model-version"] == "1" and answer.headers["x-model-name"] == MODEL
        labels = set(model["labels"])
        for item in body["predictions"]:
            assert item["label"] in labels
            assert set(item["probabilities"]) == labels
            assert item["probability"] == max(item["probabilities"].values())
        first = body["predictions"][0]
        stored = httpx.post(f"{url}/v1/feedback", json={"prediction_id": first["prediction_id"], "label": "billing"})
        assert stored.status_code == 201, stored.text
        assert httpx.post(f"{url}/v1/feedback", json={"prediction_id": "nope", "label": "billing"}).status_code == 404
        wrong = httpx.post(f"{url}/v1/feedback", json={"prediction_id": first["prediction_id"], "label": "spam"})
        assert wrong.status_code == 422 and "spam" in wrong.text
        captured = wait_until(
            lambda: sorted(set(s3_keys(bucket, capture_prefix("dev", MODEL))) - captured_before),
            what="capture objects",
        )
        announced = events.wait_for(lambda e: e.type == "prediction.captured")
    records = [
        CaptureRecord.model_validate_json(line) for key in captured for line in s3_text(bucket, key).splitlines()
    ]
    assert {r.prediction_id for r in records} == {p["prediction_id"] for p in body["predictions"]}
    assert all(r.version == 1 and r.environment == "dev" and r.model_name == MODEL for r in records)
    assert announced[0].payload.capture.key in captured  # type: ignore[attr-defined]
    feedback_keys = sorted(set(s3_keys(bucket, feedback_prefix("dev"))) - feedback_before)
    assert len(feedback_keys) == 1
    feedback = FeedbackRecord.model_validate_json(s3_text(bucket, feedback_keys[0]))
    assert (feedback.prediction_id, feedback.label) == (first["prediction_id"], "billing")


def test_odd_unicode_and_whitespace_predict_like_their_normalised_form(
    world: World, start_inference: StartInference
) -> None:
    world.promote(world.v1, 1, publish=False)
    # Fullwidth letters, a BOM, zero-width and no-break spaces, tabs, newlines and a line separator.
    odd = (
        "\ufeff  \uff29\uff2e\uff36\uff2f\uff29\uff23\uff25\u200b   INV-12345\tshows the"
        "\n\nwrong\u00a0amount \u2028 \uff50\uff4c\uff45\uff41\uff53\uff45  refund  "
    )
    clean = normalise(odd, NormalisationConfig())
    assert clean != odd and clean == "INVOICE INV-12345 shows the wrong amount please refund"
    with start_inference() as url:
        wait_serving(url, 1)
        answer = httpx.post(f"{url}/v1/predict", json={"texts": [odd, clean], "all_probabilities": True}).json()
    raw, normalised = answer["predictions"]
    assert raw["label"] == normalised["label"]
    assert raw["probabilities"] == normalised["probabilities"]


def test_no_model_promoted_yet(world: World, start_inference: StartInference) -> None:
    with start_inference() as url:
        ready = wait_until(lambda: (r := httpx.get(f"{url}/readyz")).json().get("reason") and r)
        assert ready.status_code == 503
        assert ready.json()["reason"] == f"no model {MODEL!r} is promoted to dev yet"
        answer = httpx.post(f"{url}/v1/predict", json={"texts": ["hello"]})
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert "promoted" in answer.json()["detail"]
        assert httpx.get(f"{url}/v1/model").status_code == 503


def test_bad_input_gets_clear_4xx(world: World, start_inference: StartInference) -> None:
    world.promote(world.v1, 1, publish=False)
    with start_inference(INFERENCE_MAX_TEXTS="4", INFERENCE_MAX_TEXT_CHARS="100") as url:
        wait_serving(url, 1)

        def post(**kwargs: object) -> httpx.Response:
            return httpx.post(f"{url}/v1/predict", timeout=30, **kwargs)  # type: ignore[arg-type]

        assert post(json={"texts": []}).status_code == 422
        assert "texts[1] is empty" in post(json={"texts": ["ok", "  "]}).text
        assert post(json={"texts": ["\u200b\u200d"]}).status_code == 422  # nothing left after cleaning
        assert "at most 4" in post(json={"texts": ["a"] * 5}).text
        assert "longer than 100" in post(json={"texts": ["a" * 101]}).text
        assert post(json={"texts": ["x" * 10_000_000]}).status_code == 413
        assert post(json={"texts": "not a list"}).status_code == 422
        assert post(json={"texts": [1, 2]}).status_code == 422
        assert post(json={"text": ["typo in the field name"]}).status_code == 422
        assert post(content=b'{"texts": ["caf\xe9"]}', headers={"content-type": "application/json"}).status_code == 422
        assert post(content=b'{"texts": [', headers={"content-type": "application/json"}).status_code == 422
        # After all that, it still serves.
        assert post(json={"texts": ["my parcel never arrived"]}).status_code == 200


def test_without_a_model_name_it_serves_the_model_last_promoted_to_its_environment(
    world: World, start_inference: StartInference
) -> None:
    world.promote(world.v1, 1, publish=False)
    with start_inference(INFERENCE_MODEL_NAME="") as url:
        assert wait_serving(url, 1)["model_name"] == MODEL
