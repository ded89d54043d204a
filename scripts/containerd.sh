#!/usr/bin/env bash
# Start containerd if it is not already answering on its socket (idempotent; run as root).
# Used by the test set-up and CI. Environment:
#   CONTAINERD_SOCKET  socket path      (default /run/containerd/containerd.sock)
#   CONTAINERD_LOG     log file         (default /var/log/lanner-containerd.log)
#   CONTAINERD_WAIT_S  seconds to wait  (default 20)
# Exit 0 when containerd answers, 1 otherwise (with the log's tail on stderr).
set -euo pipefail

SOCK=${CONTAINERD_SOCKET:-/run/containerd/containerd.sock}
LOG=${CONTAINERD_LOG:-/var/log/lanner-containerd.log}
WAIT_S=${CONTAINERD_WAIT_S:-20}

log() { printf 'containerd.sh: %s\n' "$*" >&2; }

answers() { timeout 5 ctr --address "$SOCK" version >/dev/null 2>&1; }

if answers; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "containerd is not answering on $SOCK and starting it needs root"
  exit 1
fi
for bin in containerd ctr runc; do
  command -v "$bin" >/dev/null || { log "$bin is not installed (apt-get install containerd runc)"; exit 1; }
done

# A containerd that is running but not (yet) answering: give it the wait below rather than
# starting a second one on the same state directory.
if ! pgrep -x containerd >/dev/null; then
  mkdir -p "$(dirname "$SOCK")" "$(dirname "$LOG")"
  log "starting containerd (log: $LOG)"
  # setsid + nohup: the daemon outlives this script and the test process that ran it.
  setsid nohup containerd --address "$SOCK" >>"$LOG" 2>&1 </dev/null &
fi

deadline=$((SECONDS + WAIT_S))
while ((SECONDS < deadline)); do
  if answers; then
    log "containerd is answering on $SOCK"
    exit 0
  fi
  sleep 0.2
done
log "containerd did not answer on $SOCK within ${WAIT_S}s; last log lines:"
tail -n 20 "$LOG" >&2 || true
exit 1
