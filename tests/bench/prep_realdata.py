"""Acceptance check of prep on the real data sets in ../shared/datasets (tab-separated, no header, odd line
terminators): each file is put into raw/ twice with a plain S3 client, once with the column mapping as S3 metadata
(what the ingest API writes) and once bare (detection), and must come out as well-formed corpora whose counts add up.

    .venv/bin/python -m tests.bench.prep_realdata        # skipped when the data sets are not there
Results: a table on stdout and `.run/bench/prep_realdata.json`.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from shared.datasets import mapping_to_metadata
from shared.events import ColumnMapping
from tests.bench.prep import ROOT, Stack
from tests.support.emulator import moto_server

DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / ".run" / "bench" / "prep_realdata.json"
FILES = {
    "sms": (
        "sms_spam/SMSSpamCollection.tsv",
        ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="0"),
    ),
    "amazon": ("sentiment_sentences/amazon_cells_labelled.txt", None),
    "imdb": ("sentiment_sentences/imdb_labelled.txt", None),
    "yelp": ("sentiment_sentences/yelp_labelled.txt", None),
}
SENTIMENT = ColumnMapping(format="tsv", has_header=False, text_column="0", label_column="1")
_LINE = re.compile(r"^__label__\S+ \S.*$")


def _read(stack: Stack, key: str) -> bytes:
    return bytes(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())


def _wait_manifest(stack: Stack, log: Path, key: str, timeout: float = 120) -> dict[str, Any]:
    from tests.bench.prep import _logs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _logs(log):
            msg = str(line.get("msg", ""))
            if msg.startswith(f"rejected {key}:"):
                raise RuntimeError(msg)
            if msg.startswith(f"prepared {key} as "):
                dataset, version = msg.rsplit(" as ", 1)[1].split("/")
                return dict(json.loads(_read(stack, f"processed/{dataset}/{version}/manifest.json")))
        time.sleep(0.5)
    raise TimeoutError(f"{key} not prepared within {timeout}s")


def _check(stack: Stack, manifest: dict[str, Any]) -> dict[str, Any]:
    corpus_rows, bad_lines = 0, 0
    for split, entry in manifest["files"].items():
        lines = _read(stack, entry["key"]).decode("utf-8").split("\n")[:-1]
        assert len(lines) == entry["rows"] == manifest["splits"][split]["total"], split
        bad_lines += sum(not _LINE.match(line) for line in lines)
        corpus_rows += len(lines)
    dropped = sum(manifest["rows_dropped"].values())
    return {
        "version": manifest["version"],
        "mapping": {k: v for k, v in manifest["mapping"].items() if v not in (None, [])},
        "rows_in": manifest["rows_in"],
        "kept": corpus_rows,
        "dropped": manifest["rows_dropped"],
        "adds_up": corpus_rows + dropped == manifest["rows_in"],
        "malformed_corpus_lines": bad_lines,
        "labels": manifest["labels"],
        "splits": {s: manifest["splits"][s]["per_label"] for s in ("train", "dev", "test")},
    }


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="prep-real-") as tmp, moto_server() as endpoint:
        stack = Stack(endpoint, Path(tmp))
        with stack.prep("real") as (_proc, log):
            for name, (path, mapping) in FILES.items():
                data = (DATASETS / path).read_bytes()
                meta = mapping_to_metadata(mapping or SENTIMENT, correlation_id=f"real-{name}", upload_id="u1")
                keys = {
                    "metadata": f"raw/{name}/u1/{Path(path).name}",
                    "detected": f"raw/{name}/dropped {Path(path).name}",
                }
                stack.s3.put_object(Bucket=stack.bucket, Key=keys["metadata"], Body=data, Metadata=meta)
                stack.s3.put_object(Bucket=stack.bucket, Key=keys["detected"], Body=data)
                results[name] = {how: _check(stack, _wait_manifest(stack, log, key)) for how, key in keys.items()}
                results[name]["lines_in_file"] = data.count(b"\n")
    return results


def main() -> None:
    if not DATASETS.exists():
        print(f"skipped: {DATASETS} not found (the real data sets are not part of a fresh clone)")
        return
    results = run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    head = (
        f"{'data set':<8} {'how':<9} {'rows in':>8} {'kept':>6} {'dropped':<34} {'adds up':<7} {'train/dev/test':<16}"
    )
    head += " labels"
    print(head + "\n" + "-" * len(head))
    failures = 0
    for name, runs in results.items():
        for how in ("metadata", "detected"):
            r = runs[how]
            sizes = "/".join(str(sum(r["splits"][s].values())) for s in ("train", "dev", "test"))
            ok = r["adds_up"] and r["malformed_corpus_lines"] == 0
            failures += not ok
            print(
                f"{name:<8} {how:<9} {r['rows_in']:>8} {r['kept']:>6} {json.dumps(r['dropped']):<34} "
                f"{'yes' if ok else 'NO':<7} {sizes:<16} {r['labels']}"
            )
        same = runs["metadata"]["version"] == runs["detected"]["version"]
        print(f"{'':<8} same version with and without metadata: {same} ({runs['metadata']['version']})")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    if failures:
        raise RuntimeError(f"{failures} real-data preparations did not add up or wrote malformed corpus lines")


if __name__ == "__main__":
    main()
