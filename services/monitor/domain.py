"""Text content drift by a domain classifier, as an Evidently stat test.

A TF-IDF + linear classifier (Evidently's own pipeline) learns to tell reference texts from current texts on one
half of them; its ROC AUC on the other half is the drift score. Two conditions make it drift:
- beyond chance: the AUC exceeds the `percentile` of the AUCs random scores reach on the same held-out labels
  (a permutation null, like Evidently's `perc_text_content_drift`); and
- large enough: the AUC reaches the test's threshold (an effect-size floor), because with many rows a classifier
  separates two samples of the same population just a little better than chance.
Evidently computes the null with 1000 calls of scikit-learn's `roc_auc_score` (about 6 s per report whatever the
sample size); the rank formula below gives the same distribution in milliseconds.

The test is registered once per percentile under its own name, so the report's "drift detected" is exactly our
verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLIT_SEED = 42  # Evidently's split of the texts into the classifier's training and evaluation halves
_ITERATIONS = 1000
_registered: set[str] = set()


def held_out_labels(n_reference: int, n_current: int) -> np.ndarray:
    """Which evaluation-half rows are current (1) or reference (0): the same split the classifier uses."""
    from sklearn.model_selection import train_test_split

    labels = np.r_[np.zeros(n_reference, dtype=int), np.ones(n_current, dtype=int)]
    _, y_test = train_test_split(labels, test_size=0.5, random_state=SPLIT_SEED, shuffle=True)
    return np.asarray(y_test)


def chance_auc(y_test: np.ndarray, percentile: float, seed: int = SPLIT_SEED) -> float:
    """The `percentile` of ROC AUCs that random scores reach on these labels (Mann-Whitney U of random ranks)."""
    positives = int(y_test.sum())
    negatives = len(y_test) - positives
    if positives == 0 or negatives == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    ranks = rng.random((_ITERATIONS, len(y_test))).argsort(axis=1).argsort(axis=1)[:, :positives] + 1
    aucs = (ranks.sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    return float(np.percentile(aucs, 100 * percentile))


def domain_auc(reference: pd.Series, current: pd.Series) -> float:
    """Held-out ROC AUC of Evidently's domain classifier (TF-IDF, L1 linear model) on reference vs current."""
    from evidently.legacy.utils.data_drift_utils import roc_auc_domain_classifier
    from sklearn.model_selection import train_test_split

    texts = pd.concat([reference, current], ignore_index=True)
    labels = np.r_[np.zeros(len(reference), dtype=int), np.ones(len(current), dtype=int)]
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=0.5, random_state=SPLIT_SEED, shuffle=True
    )
    auc, _, _ = roc_auc_domain_classifier(x_train, x_test, y_train, y_test)
    return float(auc)


def stattest_name(percentile: float) -> str:
    """The registered Evidently stat test for this chance percentile (registered on first use)."""
    name = f"domain_classifier_p{round(percentile * 1000)}"
    if name in _registered:
        return name
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    def test(
        reference: pd.Series, current: pd.Series, feature_type: ColumnType, threshold: float
    ) -> tuple[float, bool]:
        auc = domain_auc(reference, current)
        beyond = auc > chance_auc(held_out_labels(len(reference), len(current)), percentile)
        return auc, bool(beyond and auc >= threshold)

    register_stattest(
        StatTest(
            name=name,
            display_name=f"Domain classifier ROC AUC (> p{percentile * 100:g} of chance)",
            allowed_feature_types=[ColumnType.Text],
            default_threshold=0.6,
        ),
        test,
    )
    _registered.add(name)
    return name
