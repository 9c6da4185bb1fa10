from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.events import DatasetRejected, Envelope, S3Location
from shared.messages import S3_OBJECT_CREATED, PoisonMessage, S3ObjectEvent, decode_body

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "aws"


def _record(key: str, version: str = "2.1", **obj: object) -> dict[str, object]:
    return {
        "eventVersion": version,
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-25T07:34:20.428Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "mlops-dev"}, "object": {"key": key, **obj}},
    }


def test_keys_are_url_decoded_with_plus_as_space() -> None:
    body = json.dumps({"Records": [_record("raw%2Fmy+data%2Fna%C3%AFve+caf%C3%A9.csv", size=4, eTag='"abc"')]})
    (event,) = decode_body(body)
    assert isinstance(event, S3ObjectEvent)
    assert event.key == "raw/my data/naïve café.csv"
    assert event.etag == "abc"
    assert event.type == S3_OBJECT_CREATED


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2", "2.3"])
def test_any_2x_event_version_without_sequencer(version: str) -> None:
    (event,) = decode_body(json.dumps({"Records": [_record("raw/a.csv", version)]}))
    assert isinstance(event, S3ObjectEvent)
    assert event.sequencer is None and event.size is None


def test_other_event_versions_are_poison() -> None:
    with pytest.raises(PoisonMessage):
        decode_body(json.dumps({"Records": [_record("raw/a.csv", "1.0")]}))


def test_s3_test_event_carries_nothing_to_do() -> None:
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-25T07:34:12Z", "Bucket": "b"}
    assert decode_body(json.dumps(body)) == []


def _envelope() -> Envelope:
    payload = DatasetRejected(dataset="d", source=S3Location(bucket="b", key="raw/k"), reason="r")
    return Envelope.wrap(payload, source="prep", correlation_id="c")


def test_raw_delivery_envelope() -> None:
    envelope = _envelope()
    assert decode_body(envelope.model_dump_json()) == [envelope]


def test_sns_wrapped_envelope_is_unwrapped_once() -> None:
    envelope = _envelope()
    wrapped = {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": envelope.model_dump_json()}
    assert decode_body(json.dumps(wrapped)) == [envelope]


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", json.dumps({"hello": "world"}), json.dumps({"type": "x.y", "payload": {}, "source": "s"})],
)
def test_garbage_is_poison(body: str) -> None:
    with pytest.raises(PoisonMessage):
        decode_body(body)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("s3_*.json")), ids=lambda p: p.stem)
def test_captured_s3_notifications_decode(path: Path) -> None:
    # Bodies captured from moto and LocalStack (and AWS's documented shape): keys come out decoded.
    data = json.loads(path.read_text())
    data.pop("_source", None)
    events = decode_body(json.dumps(data))
    if "testevent" in path.stem:
        assert events == []
        return
    assert events and all(isinstance(e, S3ObjectEvent) for e in events)
    for event in events:
        assert isinstance(event, S3ObjectEvent)
        assert "%" not in event.key and "+" not in event.key
        if "unicode" in path.stem:
            assert event.key == "raw/my data/naïve café.csv"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("sns_*.json")), ids=lambda p: p.stem)
def test_captured_sns_deliveries_carry_our_envelope(path: Path) -> None:
    # Put our envelope where the captured probe message was; the delivery's shape is exactly what SQS gave.
    captured = json.loads(path.read_text())
    envelope = _envelope()
    if "wrapped" in path.stem:
        outer = json.loads(captured["Body"])
        outer["Message"] = envelope.model_dump_json()
        body = json.dumps(outer)
    else:
        assert "event_type" in captured["MessageAttributes"]
        body = envelope.model_dump_json()
    assert decode_body(body) == [envelope]
