#!/usr/bin/env bash
# One-time, idempotent machine set-up for Lanner on Debian 12 (run as root):
# Debian packages, kernel filesystems, npm packages. Fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

PKGS=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool bpftrace make g++ pkg-config
      containerd runc docker.io iproute2 iptables busybox-static python3-grpcio python3-grpc-tools)

# kubectl: `kubectl lanner` is a kubectl plugin; Debian's kubernetes-client when none is on PATH
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages (${missing[*]}); run as root to install them"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Kernel filesystems the capture path needs: tracefs (tracepoint ids), bpffs (pinning),
# debugfs (older tools look for tracing there), cgroup2 (cgroup ids of containers).
if [ "$(id -u)" = 0 ]; then
  mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || log "cannot mount tracefs"
  mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug || log "cannot mount debugfs"
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || log "cannot mount bpffs"
fi

# npm packages (lockfile when present).
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] ||
   { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  log "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >/dev/null; else npm install --no-audit --no-fund >/dev/null; fi
fi
