#!/usr/bin/env bash
# Installs what `make bench` needs beyond Go: the peer it compares against,
# etcd from Debian (etcd-server, etcd-client). Does nothing when etcd is
# already on PATH. The harness runs its own etcd on loopback ports with a
# temporary data dir, so a system etcd that the package starts is stopped.
set -euo pipefail
if command -v etcd >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends etcd-server etcd-client
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $sudo systemctl disable --now etcd || true
fi
etcd --version | head -1
