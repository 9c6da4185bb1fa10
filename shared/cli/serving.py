"""`mlops predict`, `mlops feedback`, `mlops model`: talk to the inference service like an application would."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from shared.cli.client import call, console


def predict(
    texts: Annotated[list[str], typer.Argument(help="One or more texts to classify")],
    all_probabilities: Annotated[bool, typer.Option("--all", help="Show every class's probability")] = False,
) -> None:
    """Classify texts with the model the inference service serves."""
    answer: dict[str, Any] = call(
        "inference", "POST", "/v1/predict", json={"texts": texts, "all_probabilities": all_probabilities}
    )
    table = Table("text", "label", "p", "prediction id", title=f"{answer['model_name']} v{answer['model_version']}")
    for text, prediction in zip(texts, answer["predictions"], strict=True):
        label = prediction["label"]
        if all_probabilities and prediction.get("probabilities"):
            label += "  (" + ", ".join(f"{k} {v:.2f}" for k, v in prediction["probabilities"].items()) + ")"
        table.add_row(text[:60], label, f"{prediction['probability']:.3f}", prediction["prediction_id"])
    console.print(table)


def feedback(
    prediction_id: Annotated[str, typer.Argument(help="A prediction id from `mlops predict`")],
    label: Annotated[str, typer.Argument(help="The true label")],
) -> None:
    """Send the true label of a prediction (ground truth for concept-drift checks)."""
    answer = call("inference", "POST", "/v1/feedback", json={"prediction_id": prediction_id, "label": label})
    console.print(f"stored {answer['stored']} (predicted {answer['predicted']}, true {answer['label']})")


def model() -> None:
    """What the inference service has loaded, since when, and where it came from."""
    answer: dict[str, Any] = call("inference", "GET", "/v1/model")
    table = Table(show_header=False, box=None)
    for key, value in answer.items():
        table.add_row(f"[bold]{key}[/bold]", str(value))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
    app.command("feedback")(feedback)
    app.command("model")(model)
