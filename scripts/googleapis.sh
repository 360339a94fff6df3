#!/usr/bin/env bash
# Copies google/api/{annotations,http}.proto from the Go module cache into
# third_party/googleapis (git-ignored) so buf can compile the protos offline.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/grpc-ecosystem/grpc-gateway@v1.16.0
dir=$(go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "googleapis.sh: cannot download $mod" >&2; exit 1; }
mkdir -p third_party/googleapis/google/api
for f in annotations.proto http.proto; do
  install -m 0644 "$dir/third_party/googleapis/google/api/$f" third_party/googleapis/google/api/$f
done
