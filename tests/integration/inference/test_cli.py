"""`mlops predict / feedback / model` against the real inference app serving a real tiny model."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from shared.cli.main import app
from tests.integration.inference.conftest import MODEL, StartInference, World, wait_serving

pytestmark = pytest.mark.integration


def test_predict_feedback_and_model_commands(
    world: World, start_inference: StartInference, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.promote(world.v1, 1, publish=False)
    with start_inference() as url:
        wait_serving(url, 1)
        monkeypatch.setenv("MLOPS_INFERENCE_URL", url)
        runner = CliRunner()
        predicted = runner.invoke(app, ["predict", "--all", "my order #123456 has not arrived yet"])
        assert predicted.exit_code == 0, predicted.output
        assert f"{MODEL} v1" in predicted.output
        prediction_id = re.search(r"\b[0-9a-f]{16,}\b", predicted.output)
        assert prediction_id is not None, predicted.output
        stored = runner.invoke(app, ["feedback", prediction_id.group(0), "shipping"])
        assert stored.exit_code == 0 and "s3://" in stored.output, stored.output
        unknown = runner.invoke(app, ["feedback", "no-such-prediction", "shipping"])
        assert unknown.exit_code == 1 and "404" in unknown.output
        shown = runner.invoke(app, ["model"])
        assert shown.exit_code == 0 and world.v1.artifact_sha256[:12] in shown.output, shown.output
