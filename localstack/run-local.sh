#!/usr/bin/env bash
# Start LocalStack 2026.3.0 *without Docker* (host mode, plain Python process) and wait until it is ready.
#
# Usage:   localstack/run-local.sh            # start (installs the venv on first use)
#          localstack/run-local.sh stop       # stop the instance started from this cwd
#          localstack/run-local.sh install    # only create/refresh the venv
#
# Everything is relative to the current working directory unless overridden:
#   LOCALSTACK_VENV            venv path                      (default .venvs/localstack)
#   LOCALSTACK_PYTHON          interpreter used to create it   (default: first Python >= 3.12 found: python3.13,
#                              python3.12, ~/.pyenv/versions/3.1[23]*, python3). 3.11 does NOT work (see pick_python).
#   LOCALSTACK_PORT            gateway port on 127.0.0.1       (default 4566)
#   LOCALSTACK_SERVICES        SERVICES list                   (default s3,sqs,sns,events,scheduler,sts,iam)
#   LOCALSTACK_STATE_DIR       FILESYSTEM_ROOT (state, logs, init hooks) (default .run/localstack; .run/ is gitignored)
#   LOCALSTACK_INIT_DIR        optional dir with boot.d/start.d/ready.d/shutdown.d hook scripts;
#                              it is symlinked to $LOCALSTACK_STATE_DIR/etc/localstack/init
#   LOCALSTACK_READY_TIMEOUT   seconds to wait for readiness   (default 90)
#   LOCALSTACK_ALLOW_HOOK_ERRORS=1  keep running even if an init hook ended in state ERROR (default: stop, exit 1)
#
# Init hooks: *.py files are exec'd inside the LocalStack process (boto3 is importable; pass endpoint_url
# explicitly); *.sh files must be executable and get the venv's bin/ first on PATH.
# State is in memory only (PERSISTENCE is a LocalStack Pro feature); $LOCALSTACK_STATE_DIR/tmp/localstack is
# removed on shutdown.
#
# Verified on this workplace: venv install 50-70 s (pip), start-to-ready 2-8 s, SIGTERM stop ~6 s.
set -euo pipefail

LS_VERSION="2026.3.0"
VENV="${LOCALSTACK_VENV:-.venvs/localstack}"
PORT="${LOCALSTACK_PORT:-4566}"
SERVICES_LIST="${LOCALSTACK_SERVICES:-s3,sqs,sns,events,scheduler,sts,iam}"
STATE_DIR="${LOCALSTACK_STATE_DIR:-.run/localstack}"
TIMEOUT="${LOCALSTACK_READY_TIMEOUT:-90}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
PIDFILE="$STATE_DIR/localstack.pid"
LOGFILE="$STATE_DIR/localstack.log"
BASE="http://127.0.0.1:${PORT}"

log() { echo "[localstack] $*" >&2; }

pick_python() {
  # localstack-core 2026.3.0 declares Requires-Python >=3.10 but uses PEP 695 syntax
  # (`class RegionBundle[BaseStoreType](dict)` in localstack/services/stores.py): on 3.11 the runtime dies with
  # "No component plugins found in namespace localstack.runtime.components". So 3.12+ is required.
  if [[ -n "${LOCALSTACK_PYTHON:-}" ]]; then echo "$LOCALSTACK_PYTHON"; return; fi
  local c pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  for c in python3.13 python3.12 \
           "$pyenv_root"/versions/3.13*/bin/python "$pyenv_root"/versions/3.12*/bin/python \
           /usr/bin/python3.13 /usr/bin/python3.12 python3; do
    # the check also weeds out pyenv shims that exist on PATH but are not activated
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      echo "$c"; return
    fi
  done
  log "no Python >= 3.12 found (LocalStack 2026.3.0 needs it); set LOCALSTACK_PYTHON"; exit 1
}

install_venv() {
  if [[ -x "$VENV/bin/python" ]] &&
     "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(sys.version_info < (3, 12) or m.version('localstack-core') != '$LS_VERSION')" 2>/dev/null; then
    return
  fi
  local py; py="$(pick_python)"
  log "creating venv $VENV with $py ($("$py" --version 2>&1))"
  "$py" -m venv --clear "$VENV"   # --clear: replaces a stale venv (e.g. one built on 3.11)
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # cbor2/pyopenssl/service_identity pins: the combination this project verified with localstack-core 2026.3.0.
  "$VENV/bin/python" -m pip install --quiet \
    "localstack-core[runtime]==${LS_VERSION}" "cbor2==5.6.5" "pyopenssl==25.1.0" "service_identity"
}

stop_ls() {
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    local pid; pid="$(cat "$PIDFILE")"
    log "stopping LocalStack pid $pid (SIGTERM)"
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then log "still alive after 30 s, SIGKILL"; kill -KILL "$pid"; fi
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  stop) stop_ls; exit 0 ;;
  install) install_venv; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|install]" >&2; exit 2 ;;
esac

install_venv

if curl -sf "$BASE/_localstack/health" >/dev/null 2>&1; then
  log "something already answers on $BASE; not starting another instance"; exit 1
fi

if [[ -n "${LOCALSTACK_INIT_DIR:-}" ]]; then
  mkdir -p "$STATE_DIR/etc/localstack"
  rm -rf "$STATE_DIR/etc/localstack/init"
  ln -s "$(cd "$LOCALSTACK_INIT_DIR" && pwd)" "$STATE_DIR/etc/localstack/init"
fi

# Environment that makes LocalStack run as a plain host process:
#  OVERRIDE_IN_DOCKER=0   LocalStack otherwise detects "docker" from /.dockerenv or /proc/mounts (true inside
#                         CI containers/sandboxes) and then uses /var/lib/localstack + /etc/localstack/init and
#                         tries to rewrite /etc/resolv.conf for its DNS server.
#  FILESYSTEM_ROOT        host-mode root for var/lib/localstack, tmp/localstack/state, etc/localstack/init
#  DNS_ADDRESS=0          do not start the DNS server (port 53, needs network to find an upstream)
#  SKIP_SSL_CERT_DOWNLOAD / DISABLE_EVENTS: no calls to localstack.cloud (no network here anyway)
#  LOCALSTACK_HOST + SQS_ENDPOINT_STRATEGY=off: returned URLs (QueueUrl, SNS UnsubscribeURL/SigningCertURL)
#                         are http://127.0.0.1:PORT/... instead of *.localhost.localstack.cloud (needs DNS)
# No Docker engine is needed for s3/sqs/sns/events/scheduler (Lambda/ECS-style services would need one).
export GATEWAY_LISTEN="127.0.0.1:${PORT}"
export LOCALSTACK_HOST="127.0.0.1:${PORT}"
export SERVICES="$SERVICES_LIST"
export OVERRIDE_IN_DOCKER=0
export FILESYSTEM_ROOT="$STATE_DIR"
export DNS_ADDRESS=0
export SKIP_SSL_CERT_DOWNLOAD=1
export DISABLE_EVENTS=1
export SQS_ENDPOINT_STRATEGY=off
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
# venv first on PATH so that ready.d/*.sh hooks calling `python` get the venv (it has boto3)
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

log "starting LocalStack $LS_VERSION on $BASE (services: $SERVICES), log: $LOGFILE"
start_ts=$(date +%s)
nohup "$VENV/bin/python" -m localstack.runtime.main >"$LOGFILE" 2>&1 &
echo $! >"$PIDFILE"

# Ready = READY stage finished (all ready.d hooks ran). /_localstack/health answers ~1-5 s earlier,
# before ready.d hooks have run, so do not use it alone.
while :; do
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    log "LocalStack exited during startup; last log lines:"; tail -n 30 "$LOGFILE" >&2; exit 1
  fi
  if curl -sf "$BASE/_localstack/init/ready" 2>/dev/null | grep -q '"completed": *true'; then break; fi
  if (( $(date +%s) - start_ts > TIMEOUT )); then
    log "not ready after ${TIMEOUT}s"; tail -n 30 "$LOGFILE" >&2; stop_ls; exit 1
  fi
  sleep 0.2
done

# A failing hook does NOT block READY (LocalStack marks it "ERROR" and carries on), so check explicitly.
if curl -sf "$BASE/_localstack/init" | grep -q '"state": *"ERROR"'; then
  log "an init hook failed: $(curl -sf "$BASE/_localstack/init")"
  if [[ "${LOCALSTACK_ALLOW_HOOK_ERRORS:-0}" != "1" ]]; then
    log "see $LOGFILE; stopping (set LOCALSTACK_ALLOW_HOOK_ERRORS=1 to keep it running)"; stop_ls; exit 1
  fi
fi
log "ready after $(( $(date +%s) - start_ts ))s (pid $(cat "$PIDFILE")); stop with: $0 stop"
