"""The SageMaker training job's entry point: the same job code as a local worker, on SageMaker's `/opt/ml` paths.

    python -m services.trainer.sagemaker_entry [train]

Reads the job spec from `/opt/ml/input/config/hyperparameters.json` (key `spec`), the corpora from the `training`
channel (`/opt/ml/input/data/training/`: train.txt, dev.txt, test.txt of the processed/ prefix), and writes the job's
outputs to `/opt/ml/model/` (SageMaker uploads it as model.tar.gz). A failure writes its reason to
`/opt/ml/output/failure` (SageMaker shows it as the job's FailureReason) and exits non-zero. `SM_ROOT` moves the
whole tree (tests run the entry point on a temporary folder); `SM_CHANNEL_TRAINING` and `SM_MODEL_DIR` are honoured.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from services.trainer import job
from services.trainer.corpus import BadCorpus
from services.trainer.results import configure_worker_logging
from services.trainer.spec import JobSpec

OPT_ML = "/opt/ml"


def rooted(value: str, root: str) -> str:
    """A /opt/ml path of the spec moved under SM_ROOT (identity on a real SageMaker instance)."""
    return value.replace(OPT_ML, root, 1) if root != OPT_ML else value


def main() -> int:
    root = os.environ.get("SM_ROOT", OPT_ML)
    hyperparameters = json.loads(Path(root, "input/config/hyperparameters.json").read_text(encoding="utf-8"))
    spec = JobSpec.from_json(hyperparameters["spec"])
    tracking = spec.tracking.model_copy(update={"dir": rooted(spec.tracking.dir or f"{OPT_ML}/model/wandb", root)})
    spec = spec.model_copy(update={"storage": rooted(spec.storage, root), "tracking": tracking})
    data = Path(os.environ.get("SM_CHANNEL_TRAINING", f"{root}/input/data/training"))
    model_dir = Path(os.environ.get("SM_MODEL_DIR", f"{root}/model"))
    configure_worker_logging(spec)
    cancel = job.Cancellation()
    cancel.install()  # SageMaker's StopTrainingJob sends SIGTERM
    try:
        job.run_job(spec, data, model_dir, cancel)
    except (job.JobFailed, BadCorpus, job.StudyCancelled) as exc:
        failure = Path(root, "output", "failure")
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(str(exc)[:1000] or type(exc).__name__, encoding="utf-8")
        job.results.write_json(model_dir / "outcome.json", {"status": "failed", "reason": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
