#!/usr/bin/env bash
# LocalStack READY hook: apply the platform topology with the same code as `make provision` (python -m shared.provision).
#
# It runs inside LocalStack's process environment, whose Python lacks our dependencies, so it calls an interpreter that
# has them: $MLOPS_PROVISION_PYTHON, else the repository's .venv (no-Docker path: localstack/run-local.sh with
# LOCALSTACK_INIT_DIR=localstack/init), else /opt/mlops (the compose image, localstack/Dockerfile).
# A failure here marks the hook ERROR; run-local.sh and the compose health check both refuse to report ready then.
set -euo pipefail

here="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
py="${MLOPS_PROVISION_PYTHON:-}"
if [[ -z "$py" ]]; then
  for candidate in "$root/.venv/bin/python" /opt/mlops/bin/python; do
    if [[ -x "$candidate" ]]; then py="$candidate"; break; fi
  done
fi
if [[ -z "$py" ]]; then
  echo "10-provision: no Python with the project installed (set MLOPS_PROVISION_PYTHON)" >&2
  exit 1
fi

# GATEWAY_LISTEN is host:port (run-local.sh sets 127.0.0.1:<port>); in the container LocalStack listens on :4566.
port="${GATEWAY_LISTEN:-:4566}"
port="${port##*:}"
export AWS_ENDPOINT_URL="${MLOPS_PROVISION_ENDPOINT:-http://127.0.0.1:${port}}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
echo "10-provision: applying the topology of namespace ${MLOPS_NAMESPACE:-mlops} at $AWS_ENDPOINT_URL with $py" >&2
"$py" -m shared.provision
