#!/usr/bin/env bash
# Start a Docker engine for the container tests if none answers (idempotent; root). It uses
# the system containerd and changes no networking: no bridge, no iptables rules, no
# forwarding (test containers run with --network none).
set -euo pipefail
SOCK=${DOCKER_SOCKET:-/var/run/docker.sock}
LOG=${DOCKERD_LOG:-/var/log/lanner-dockerd.log}
answers() { timeout 5 docker -H "unix://$SOCK" version >/dev/null 2>&1; }
answers && exit 0
[ "$(id -u)" = 0 ] || { echo "docker.sh: dockerd is not running and starting it needs root" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "docker.sh: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
bash "$(dirname "$0")/containerd.sh"
nohup dockerd --host "unix://$SOCK" --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
  --containerd=/run/containerd/containerd.sock >"$LOG" 2>&1 &
for _ in $(seq 1 40); do answers && exit 0; sleep 0.5; done
echo "docker.sh: dockerd did not answer on $SOCK; log tail:" >&2
tail -20 "$LOG" >&2
exit 1
