"""Inference's Prometheus metrics (served on `/metrics` with the backbone's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

REQUEST_SECONDS = Histogram(
    "inference_request_seconds", "Predict requests, from arrival in the endpoint to the answer", buckets=_LATENCY
)
QUEUE_WAIT_SECONDS = Histogram(
    "inference_queue_wait_seconds", "From a request's enqueueing to its batch starting", buckets=_LATENCY
)
FORWARD_SECONDS = Histogram(
    "inference_forward_seconds", "One batch in the model thread (cleaning, tokens, forward pass)", buckets=_LATENCY
)
BATCH_TEXTS = Histogram("inference_batch_texts", "Texts per forward pass", buckets=_BATCH)
TEXTS = Counter("inference_texts_total", "Texts predicted")
REJECTED = Counter("inference_rejected_total", "Requests refused, by reason", ["reason"])
QUEUE_DEPTH = Gauge("inference_queue_texts", "Texts waiting for the model")
MODEL_VERSION = Gauge("inference_model_version", "Version of the model being served", ["environment", "model_name"])
MODEL_LOADED_AT = Gauge("inference_model_loaded_timestamp", "When the served model was swapped in (unix time)")
MODEL_LOADS = Counter("inference_model_loads_total", "Model loads, by outcome", ["outcome"])
CAPTURED = Counter("inference_capture_records_total", "Prediction records written to S3 capture/")
CAPTURE_DROPPED = Counter("inference_capture_dropped_total", "Capture records dropped (buffer full)")
CAPTURE_FLUSH_FAILURES = Counter("inference_capture_flush_failures_total", "Capture flushes that failed")
CAPTURE_BUFFERED = Gauge("inference_capture_buffered", "Capture records waiting for a flush")
FEEDBACK = Counter("inference_feedback_total", "Feedback labels stored")
