"""The serving path cleans texts with the data set's recorded normalisation before tokenising them, so an odd
text reaches the classifier exactly as its normalised form does."""

from __future__ import annotations

from typing import Any

from services.inference.model import ServingModel
from shared.textnorm import NormalisationConfig, normalise

ODD = "\ufeff  \uff2d\uff59\u200b  parcel\tnever\n\narrived\u00a0 \u2028 PLEASE  help  "


class RecordingClassifier:
    """Stands in for a Flair TextClassifier: labels each sentence by its tokens and records what it saw."""

    label_type = "class"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def predict(self, sentences: list[Any], **_: Any) -> None:
        for sentence in sentences:
            tokens = [t.text for t in sentence]
            self.seen.append(tokens)
            spam = 0.9 if "PLEASE" in tokens else 0.2
            sentence.add_label("class", "spam", spam)
            sentence.add_label("class", "ham", 1 - spam)


def _model(config: NormalisationConfig) -> tuple[ServingModel, RecordingClassifier]:
    classifier = RecordingClassifier()
    return ServingModel("m", 1, "dev", classifier, config, ("ham", "spam"), "", "", None, {}), classifier


def test_an_odd_text_is_seen_exactly_like_its_normalised_form() -> None:
    config = NormalisationConfig()
    model, classifier = _model(config)
    clean = normalise(ODD, config)
    assert clean == "My parcel never arrived PLEASE help"
    odd_result, clean_result = model.predict([ODD, clean])
    assert classifier.seen[0] == classifier.seen[1] == ["My", "parcel", "never", "arrived", "PLEASE", "help"]
    assert odd_result == clean_result
    assert odd_result.text == clean  # what capture records: the text the model saw


def test_the_recorded_config_is_the_one_applied() -> None:
    model, classifier = _model(NormalisationConfig(lowercase=True))
    (result,) = model.predict([ODD])
    assert classifier.seen[0] == ["my", "parcel", "never", "arrived", "please", "help"]
    assert result.label == "ham"  # lowercased: the token the fake classifier keys on is gone


def test_a_text_with_nothing_left_after_cleaning_gets_no_label() -> None:
    model, classifier = _model(NormalisationConfig())
    (result,) = model.predict(["\u200b\u200d\ufeff"])
    assert result.label is None and classifier.seen == []
