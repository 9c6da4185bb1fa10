"""The process runner (`INFERENCE_RUNNER=process`): each loaded model lives in its own worker process.

The small models' pass is mostly Python (segtok's tokenisation, even on the vectorised graph of graph.py) and holds
the GIL, as does serving HTTP: in one process the two take turns. With the model in a worker process they run in
parallel; a batch crosses a pipe as a list of strings and comes back as (text, label, probability, probabilities).

One worker per model version makes a hot swap what it is with threads: the new worker loads (after the manager has
verified the checksum, and `load_verified` checks it again right before unpickling, in the worker) and warms up
while the old one serves; the swap is one reference; the old worker is stopped once the batches already handed to it
are answered (they are counted from the moment the batcher, having read the reference, hands them over). The worker
exits when its pipe closes (the service closes it, or dies), so it never outlives the service.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Coroutine, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from services.inference.model import ServingModel, TextResult, classifier_labels, load_classifier, set_torch_threads
from shared.classifier import IntegrityError
from shared.textnorm import NormalisationConfig

log = logging.getLogger(__name__)
START_SECONDS = 300.0  # a worker that has not loaded and warmed up its model by then is given up
_HEADER = struct.Struct("!i")  # multiprocessing.connection's framing: a 4-byte big-endian length, then the pickle


class WorkerFailed(RuntimeError):
    """The model worker died or answered with an error."""


class ModelWorker:
    """The service's end of one worker process. Started (blocking: load and warm-up) in the loader thread; then
    `predict` runs on the event loop: the batch is pickled to the socket and the answer awaited, no thread involved."""

    def __init__(self, path: Path, sha256: str, normalisation: NormalisationConfig, pass_texts: int, threads: int):
        # A fresh interpreter (never a fork of a process with torch's threads running), and not multiprocessing's
        # spawn either, which would re-run whatever script started this process; the pipe is a socket pair.
        self._sock, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(  # noqa: S603  (our own module, no shell)
                [sys.executable, "-m", "services.inference.runner", str(theirs.fileno())], pass_fds=(theirs.fileno(),)
            )
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._inflight = 0
        self._idle = asyncio.Event()  # set whenever no batch is in flight
        self._idle.set()
        try:
            with Connection(os.dup(self._sock.fileno())) as conn:  # the same framing as the worker's Connection
                conn.send((str(path), sha256, normalisation.model_dump(), pass_texts, threads))
                if not conn.poll(START_SECONDS):
                    raise WorkerFailed(f"the model worker did not load the model within {START_SECONDS:.0f}s")
                answer = conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise WorkerFailed(f"the model worker exited while loading (code {self.process.poll()})") from exc
        except BaseException:
            self.close()
            raise
        if answer[0] == "integrity":
            self.close()
            raise IntegrityError(str(path), sha256, answer[1])
        if answer[0] != "ok":
            self.close()
            raise WorkerFailed(f"the model worker could not load the model: {answer[1]}")
        self.labels: tuple[str, ...] = tuple(answer[1])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def predict(self, texts: Sequence[str]) -> Coroutine[Any, Any, list[TextResult]]:
        """One pass in the worker (call on the event loop). The batch counts as in flight from this call on, so a
        retired worker is stopped only after every batch handed to it was answered."""
        self._inflight += 1
        self._idle.clear()
        return self._predict(list(texts))

    async def _predict(self, texts: list[str]) -> list[TextResult]:
        try:
            async with self._lock:
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(sock=self._sock)
                assert self._reader is not None
                data = pickle.dumps(texts, protocol=pickle.HIGHEST_PROTOCOL)
                self._writer.write(_HEADER.pack(len(data)) + data)
                (size,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
                answer = pickle.loads(await self._reader.readexactly(size))  # noqa: S301  (our own worker)
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise WorkerFailed(f"the model worker is gone (exit code {self.process.poll()})") from exc
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()
        if answer[0] != "ok":
            raise WorkerFailed(f"the model worker failed: {answer[1]}")
        return [TextResult(text, label, probability, probs) for text, label, probability, probs in answer[1]]

    async def aclose(self) -> None:
        """Stop the worker once the batches handed to it are answered (it sees EOF and exits)."""
        await self._idle.wait()
        if self._writer is not None:
            self._writer.close()
        await asyncio.to_thread(self.close)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker now (blocking; idempotent)."""
        if self._writer is None:
            self._sock.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("model worker %s did not exit, killing it", self.process.pid)
            self.process.kill()
            self.process.wait(timeout)


def _serve(conn: Connection) -> None:
    """The worker process: load, warm up, then answer batches until the pipe closes."""
    try:
        path, sha256, normalisation, pass_texts, threads = conn.recv()
    except (EOFError, OSError):
        return
    set_torch_threads(threads)
    try:
        classifier = load_classifier(Path(path), sha256)
        model = ServingModel(
            name="",
            version=0,
            environment="",
            classifier=classifier,
            normalisation=NormalisationConfig.model_validate(normalisation),
            labels=classifier_labels(classifier),
            sha256=sha256,
            artifact_uri=path,
            transformer_uri=None,
            lineage={},
            pass_texts=pass_texts,
        )
        model.warm_up()
    except IntegrityError as exc:
        conn.send(("integrity", exc.actual))
        return
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    gc.freeze()  # the model's objects are long-lived: keep them out of every collection (see swap.py)
    conn.send(("ok", list(model.labels)))
    while True:
        try:
            texts = conn.recv()
        except (EOFError, OSError):
            return
        try:
            results = model.predict(texts)
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", [(r.text, r.label, r.probability, r.probabilities) for r in results]))


if __name__ == "__main__":
    # Signals are for the service (it drains, then closes the pipe, and the worker exits on EOF); a Ctrl-C or a
    # SIGTERM to the whole process group must not kill the model under the requests being drained.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _serve(Connection(int(sys.argv[1])))
