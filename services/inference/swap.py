"""Which model is served, and how a new one replaces it without a failed or delayed request.

`ModelManager.refresh()` asks the registry what the environment's alias points at; when that differs from what is
loaded, it downloads the artifact, verifies its sha256 before unpickling (a mismatch is refused, alerted with
`model.integrity_failed`, and the old model keeps serving), loads the data set's transformer, warms the model up in
a separate loader thread, and only then swaps one reference. A batch reads that reference once when it starts, so
in-flight batches finish on the old model and the next batch uses the new one: nothing waits for a load.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.inference.aliases import AliasSource, ModelTarget, RegistryUnavailable
from services.inference.metrics import MODEL_LOADED_AT, MODEL_LOADS, MODEL_VERSION
from services.inference.model import ServingModel, classifier_labels, load_classifier
from services.inference.runner import ModelWorker
from services.inference.storage import ObjectStore
from shared.classifier import IntegrityError, sha256_file
from shared.datasets import Transformer
from shared.events import Envelope, ModelIntegrityFailed, S3Location
from shared.modelcard import CARD_FILE, ModelCard
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)
_EVENT_IDS = uuid.UUID("0b7c4f0e-33a2-4a51-8d7e-6a0cf6d1b9e4")


class Refused(RuntimeError):
    """A target that cannot be served (bad checksum, missing transformer); the current model stays."""


@dataclass
class ServingState:
    """What `/readyz` and `/v1/model` report besides the model itself."""

    status: str = "starting"
    detail: str = "no alias check yet"
    last_check: datetime | None = None
    last_error: str | None = None
    refused: dict[tuple[str, int, str], float] = field(default_factory=dict)


class ModelManager:
    def __init__(
        self,
        *,
        environment: str,
        model_name: str | None,
        aliases: AliasSource,
        store: ObjectStore,
        publisher: EventPublisher,
        loader: Executor,
        refused_retry_seconds: float = 600,
        work_dir: Path | None = None,
        pass_texts: int = 0,
        runner: str = "thread",
        worker_threads: int = 1,
    ) -> None:
        self.environment = environment
        self.model_name = model_name
        self.aliases = aliases
        self.store = store
        self.publisher = publisher
        self.loader = loader
        self.refused_retry_seconds = refused_retry_seconds
        self.work_dir = work_dir
        self.pass_texts = pass_texts
        # "thread": the classifier is loaded here and runs in the model thread; "process": in a worker process of its
        # own (runner.py), started in the loader thread, with `worker_threads` torch threads.
        self.runner = runner
        self.worker_threads = worker_threads
        self._retiring: set[asyncio.Task[None]] = set()
        self.current: ServingModel | None = None
        self.state = ServingState()
        self._lock = asyncio.Lock()
        self.swaps = 0

    def serving(self) -> ServingModel | None:
        return self.current

    async def refresh(self, reason: str, hint: ModelTarget | None = None) -> ServingModel | None:
        """Converge on the alias's target (`hint` is used only when the registry cannot be asked)."""
        async with self._lock:  # one load at a time; a second trigger re-checks after the first finished
            name = self.model_name or (hint.model_name if hint else None) or (self.current and self.current.name)
            try:
                target = await self.aliases.current(name or None)
            except RegistryUnavailable as exc:
                self.state.last_error = str(exc)
                log.warning("registry not answering (%s): %s", reason, exc)
                if hint is None:
                    return self.current
                target = hint
            self.state.last_check = datetime.now(UTC)
            if target is None:
                self._nothing_promoted()
                return self.current
            current = self.current
            if current is not None and (current.name, current.version, current.sha256) == target.identity:
                if current.alive:
                    return self.current
                log.error("the worker process of %s v%d died; loading it again", current.name, current.version)
            if self._recently_refused(target):
                return self.current
            await self._load_and_swap(target, reason)
            return self.current

    def _nothing_promoted(self) -> None:
        if self.current is None:
            self.state.status = "no_model"
            what = f"model {self.model_name!r}" if self.model_name else "model"
            self.state.detail = f"no {what} is promoted to {self.environment} yet"

    def _recently_refused(self, target: ModelTarget) -> bool:
        refused_at = self.state.refused.get(target.identity)
        return refused_at is not None and time.monotonic() - refused_at < self.refused_retry_seconds

    async def _load_and_swap(self, target: ModelTarget, reason: str) -> None:
        log.info(
            "loading %s v%d for %s (%s)",
            target.model_name,
            target.version,
            self.environment,
            reason,
            extra={"artifact": target.artifact.uri},
        )
        if self.current is None:
            self.state.status, self.state.detail = "loading", f"loading {target.model_name} v{target.version}"
        started = time.monotonic()
        try:
            model = await self._load(target)
        except Refused as exc:
            MODEL_LOADS.labels("refused").inc()
            self.state.refused[target.identity] = time.monotonic()
            self.state.last_error = str(exc)
            if self.current is None:
                self.state.status, self.state.detail = "refused", str(exc)
            log.error("refused %s v%d: %s", target.model_name, target.version, exc)
            return
        except Exception as exc:  # S3 hiccup, corrupt file: the next check tries again
            MODEL_LOADS.labels("failed").inc()
            self.state.last_error = f"{type(exc).__name__}: {exc}"
            if self.current is None:
                self.state.status, self.state.detail = "load_failed", self.state.last_error
            log.exception("loading %s v%d failed", target.model_name, target.version)
            return
        previous = self.current
        model.loaded_at = datetime.now(UTC)
        self.current = model  # the swap: one reference, read once per batch
        # A loaded model is hundreds of thousands of long-lived objects; every full garbage collection would scan
        # them all (tens of ms with the GIL held, under load many times a second). Freezing moves everything alive
        # now out of the collector's sight. Models hold no reference cycles, so an old one is still freed by
        # reference counting when its last batch lets go of it.
        gc.freeze()
        self.swaps += 1
        self.state.status, self.state.detail, self.state.last_error = "serving", "model loaded", None
        MODEL_LOADS.labels("loaded").inc()
        if previous is not None:
            MODEL_VERSION.remove(self.environment, previous.name)
            # Its worker, if any, stops after the batches already handed to it (they read the reference before).
            retiring = asyncio.create_task(previous.aclose())
            self._retiring.add(retiring)
            retiring.add_done_callback(self._retiring.discard)
        MODEL_VERSION.labels(self.environment, model.name).set(model.version)
        MODEL_LOADED_AT.set(model.loaded_at.timestamp())
        log.info(
            "serving %s v%d (was %s), loaded in %.1fs",
            model.name,
            model.version,
            f"v{previous.version}" if previous else "nothing",
            time.monotonic() - started,
        )

    async def _load(self, target: ModelTarget) -> ServingModel:
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
            path = Path(tmp) / "model.pt"
            await self.store.download(target.artifact.bucket, target.artifact.key, path)
            # The checksum first: bad bytes are refused and alerted whatever else is wrong with the target.
            actual = await loop.run_in_executor(self.loader, sha256_file, path)
            if actual != target.sha256:
                await self._integrity_failed(target, actual)
                raise Refused(f"sha256 mismatch for {target.artifact.uri}: expected {target.sha256}, got {actual}")
            card = await self._card(target)
            transformer_location = target.transformer or (card.transformer if card else None)
            if transformer_location is None:
                raise Refused("the model's lineage names no transformer (its text cleaning is unknown)")
            raw = await self.store.get_bytes(transformer_location.bucket, transformer_location.key)
            if raw is None:
                raise Refused(f"transformer {transformer_location.uri} does not exist")
            transformer = Transformer.model_validate_json(raw)
            worker: ModelWorker | None = None
            try:  # load_verified hashes again right before unpickling: the file cannot have changed in between
                if self.runner == "process":
                    worker = await loop.run_in_executor(
                        self.loader,
                        ModelWorker,
                        path,
                        target.sha256,
                        transformer.normalisation,
                        self.pass_texts,
                        self.worker_threads,
                    )
                    classifier, labels = None, worker.labels
                else:
                    classifier = await loop.run_in_executor(self.loader, load_classifier, path, target.sha256)
                    labels = classifier_labels(classifier)
            except IntegrityError as exc:
                await self._integrity_failed(target, exc.actual)
                raise Refused(str(exc)) from exc
        model = ServingModel(
            name=target.model_name,
            version=target.version,
            environment=self.environment,
            classifier=classifier,
            normalisation=transformer.normalisation,
            labels=labels,
            sha256=target.sha256,
            artifact_uri=target.artifact.uri,
            transformer_uri=transformer_location.uri,
            lineage=_lineage(target, card, transformer),
            pass_texts=self.pass_texts,
            worker=worker,
        )
        await asyncio.get_running_loop().run_in_executor(self.loader, model.warm_up)
        return model

    async def _card(self, target: ModelTarget) -> ModelCard | None:
        # The registry names the card; failing that, the trainer's layout puts it beside the model file.
        artifact = target.artifact
        card = target.model_card or S3Location(
            bucket=artifact.bucket, key=artifact.key.rsplit("/", 1)[0] + "/" + CARD_FILE
        )
        try:
            raw = await self.store.get_bytes(card.bucket, card.key)
            return ModelCard.model_validate_json(raw) if raw else None
        except Exception as exc:  # lineage is informative; a missing or odd card does not stop serving
            log.warning("no usable model card at %s: %s", card.uri, exc)
            return None

    async def _integrity_failed(self, target: ModelTarget, actual: str) -> None:
        payload = ModelIntegrityFailed(
            model_name=target.model_name,
            version=target.version,
            environment=self.environment,
            artifact=target.artifact,
            expected_sha256=target.sha256,
            actual_sha256=actual,
            detected_by="inference",
        )
        # Same id from every replica that detects the same bad bytes: the notifier alerts once.
        name = f"{self.environment}:{target.model_name}:{target.version}:{target.sha256}:{actual}"
        envelope = Envelope.wrap(
            payload,
            source="inference",
            correlation_id=f"integrity-{target.model_name}-{target.version}",
            event_id=uuid.uuid5(_EVENT_IDS, name).hex,
        )
        try:
            await self.publisher.publish(envelope)
        except Exception:
            log.exception("could not publish model.integrity_failed")

    async def aclose(self) -> None:
        """Shutdown, after the batcher drained: stop the models' worker processes, if they have any."""
        if self.current is not None:
            await self.current.aclose()
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def poll(self, interval: float) -> None:
        """Background safety net: check the alias now and every `interval` seconds."""
        while True:
            try:
                await self.refresh("periodic alias check")
            except Exception:
                log.exception("alias check failed")
            await asyncio.sleep(interval)


def _lineage(target: ModelTarget, card: ModelCard | None, transformer: Transformer) -> dict[str, Any]:
    lineage: dict[str, Any] = {"dataset": transformer.dataset, "dataset_version": transformer.version}
    if card is not None:
        lineage.update(
            candidate_id=card.candidate_id,
            study_id=card.study_id,
            dataset_digest=card.dataset_digest,
            embeddings=card.embeddings,
            params=card.params,
            seed=card.seed,
            code_version=card.code_version,
            created_at=card.created_at,
            test_metrics={"accuracy": card.test_metrics.accuracy, "macro_f1": card.test_metrics.macro_f1},
        )
    lineage.update(target.lineage)
    return lineage
