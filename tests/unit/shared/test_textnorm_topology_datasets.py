from __future__ import annotations

import pytest

from shared.datasets import dataset_of_raw_key, label_token, mapping_from_metadata, mapping_to_metadata
from shared.events import ColumnMapping
from shared.settings import CommonSettings
from shared.textnorm import NormalisationConfig, normalise
from shared.topology import Topology

ODD = "\ufeffCafe\u0301  \u200bdeal!\t\t\uff26\uff32\uff25\uff25\r\nnow\x07"  # fullwidth FREE


def test_normalise_cleans_unicode_whitespace_and_controls() -> None:
    assert normalise(ODD, NormalisationConfig()) == "Café deal! FREE now"


@pytest.mark.parametrize("config", [NormalisationConfig(), NormalisationConfig(lowercase=True, max_chars=7)])
def test_normalise_is_idempotent(config: NormalisationConfig) -> None:
    once = normalise(ODD, config)
    assert normalise(once, config) == once


def test_topology_names_are_unique_and_derived_from_namespace() -> None:
    topology = Topology(CommonSettings(namespace="acme"))
    names = [topology.queue_name(q.service) for q in topology.static_queues()]
    names += [topology.dlq_name(q.service) for q in topology.static_queues()]
    assert len(names) == len(set(names))
    assert all(name.startswith("acme-") for name in names)
    assert topology.home_bucket == "acme-dev" and topology.buckets["prod"] == "acme-prod"


def test_filter_policies_route_by_event_type() -> None:
    topology = Topology(CommonSettings())
    assert topology.spec("registry").filter_policy() == {"event_type": ["dataset.prepared", "training.completed"]}
    assert topology.spec("prep").filter_policy() is None  # S3 notifications only
    assert {"prefix": "model."} in topology.spec("ingest").filter_policy()["event_type"]  # type: ignore[index]


def test_env_buckets_refuse_unknown_environments() -> None:
    with pytest.raises(ValueError):
        CommonSettings(env_buckets={"qa": "x"})


def test_raw_metadata_round_trip() -> None:
    mapping = ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="0", slice_columns=("2",))
    meta = mapping_to_metadata(mapping, correlation_id="c", upload_id="u")
    back, provenance = mapping_from_metadata({k.upper(): v for k, v in meta.items()})
    assert back == mapping and provenance == {"correlation-id": "c", "upload-id": "u"}
    assert mapping_from_metadata({}) == (None, {})


@pytest.mark.parametrize(
    ("key", "dataset"),
    [("raw/tickets/u1/a.csv", "tickets"), ("raw/sms.tsv", "sms"), ("processed/x/y", None), ("raw/", None)],
)
def test_dataset_of_raw_key(key: str, dataset: str | None) -> None:
    assert dataset_of_raw_key(key) == dataset


def test_label_tokens_have_no_whitespace() -> None:
    assert label_token(" not spam ") == "not_spam"
