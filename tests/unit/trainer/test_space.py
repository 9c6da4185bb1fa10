"""Search spaces and study overrides: sensible ones are accepted, nonsense is refused with the reason."""

from __future__ import annotations

import optuna
import pytest
from pydantic import ValidationError

from services.trainer.handlers import config_from, manifest_version
from services.trainer.space import SearchSpace, params_from_trial
from services.trainer.spec import StudyConfig, study_id, trial_seed


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"lr": {"low": -0.1, "high": 0.01}}, "learning rate must be positive"),
        ({"doc": []}, "empty list of choices"),
        ({"batch": [0, 32]}, "choices must be positive"),
        ({"epochs": {"low": 5, "high": 2}}, "above high"),
        ({"dropout": {"low": 0.0, "high": 1.5}}, "[0, 1)"),
        ({"doc": ["GRU", "GRU"]}, "repeated choices"),
        ({"doc": ["Transformer"]}, "Input should be"),
        ({"learning_rate": {"low": 0.1, "high": 0.2}}, "Extra inputs are not permitted"),
    ],
)
def test_nonsense_search_spaces_are_refused_with_the_reason(change: dict, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid study configuration") as refused:
        config_from({"search_space": change}, StudyConfig())
    assert reason in str(refused.value)


def test_overrides_merge_onto_the_default_study() -> None:
    config = config_from({"n_trials": 3, "timeout_seconds": 60, "search_space": {"doc": ["GRU"]}}, StudyConfig())
    assert (config.n_trials, config.timeout_seconds, config.space.doc) == (3, 60, ["GRU"])
    assert config.space.batch == SearchSpace().batch  # untouched parts stay the default
    with pytest.raises(ValueError, match="n_trials"):
        config_from({"n_trials": 0}, StudyConfig())
    with pytest.raises(ValueError, match="objective"):
        config_from({"objective": "loss"}, StudyConfig())


def test_one_study_per_data_set_version_and_configuration() -> None:
    a = study_id("support-tickets", "0123456789abcdef", StudyConfig())
    assert a == study_id("support-tickets", "0123456789abcdef", StudyConfig())
    assert a != study_id("support-tickets", "0123456789abcdef", StudyConfig(n_trials=3))
    assert a != study_id("support-tickets", "fedcba9876543210", StudyConfig())
    assert a.startswith("support-tickets-0123456789-")


def test_trial_seeds_depend_on_study_seed_and_trial_number_only() -> None:
    assert trial_seed(42, 3) == trial_seed(42, 3)
    assert len({trial_seed(42, n) for n in range(50)}) == 50
    assert trial_seed(42, 3) != trial_seed(43, 3)


def test_conditional_parameters_are_asked_only_when_they_matter() -> None:
    space = SearchSpace(embeddings=["onehot"], doc=["pool"])
    trial = optuna.create_study().ask()
    params = space.suggest(trial)
    assert "pooling" in params and "hidden" not in params and "dropout" not in params
    rnn = SearchSpace(doc=["GRU"]).suggest(optuna.create_study().ask())
    assert {"hidden", "bidirectional", "dropout", "word_dropout"} <= set(rnn) and "pooling" not in rnn
    assert params_from_trial({"embeddings": "minilm", "minilm_lr": 0.01}) == {"embeddings": "minilm", "lr": 0.01}


def test_only_manifests_trigger_studies() -> None:
    assert manifest_version("processed/sms/abc123/manifest.json") == ("sms", "abc123")
    for key in (
        "processed/sms/abc123/train.txt",
        "processed/manifest.json",
        "raw/sms/manifest.json",
        "processed/sms/abc/x/manifest.json",
    ):
        assert manifest_version(key) is None


def test_search_space_is_read_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.trainer.settings import TrainerSettings

    monkeypatch.setenv("TRAINER_SEARCH_SPACE", '{"doc": ["LSTM"], "epochs": {"low": 1, "high": 3}}')
    monkeypatch.setenv("TRAINER_N_TRIALS", "4")
    study = TrainerSettings().default_study()
    assert study.space.doc == ["LSTM"] and study.n_trials == 4
    monkeypatch.setenv("TRAINER_SEARCH_SPACE", '{"lr": {"low": 0, "high": 1}}')
    with pytest.raises(ValidationError):
        TrainerSettings()
