#!/usr/bin/env bash
# Checks proto/ for breaking changes with buf's FILE rules, offline, against
# the last release: its buf image is committed under api/releases/ (written
# by `make release-image REF=vX.Y.Z`), so a clone without tags — CI's — checks
# exactly what a clone with them would. Given a git ref as $1, the check runs
# against that ref's protos instead, built with the same google/api protos
# (third_party/, which git ignores and `make generate` fills).
set -euo pipefail
cd "$(dirname "$0")/.."
buf=${BUF:-.tools/bin/buf}
[ -f third_party/googleapis/google/api/annotations.proto ] || ./scripts/googleapis.sh

if [ $# -eq 0 ]; then
  image=$(ls api/releases/v*.binpb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$image" ]; then
    echo "buf-breaking: no release image in api/releases/ (make release-image REF=vX.Y.Z)" >&2
    exit 1
  fi
  # The workspace builds into one image, as the release image was built.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$buf" build -o "$tmp/head.binpb"
  "$buf" breaking "$tmp/head.binpb" --against "$image" --config buf.yaml
  echo "buf breaking: proto/ is compatible with $(basename "$image" .binpb)"
  exit 0
fi

ref=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$ref" proto buf.yaml | tar -x -C "$tmp"
cp -r third_party "$tmp/"
if [ "${2:-}" = "--image" ]; then
  # Writes the release image CI compares against (make release-image).
  mkdir -p api/releases
  (cd "$tmp" && "$OLDPWD/$buf" build -o "$OLDPWD/api/releases/$ref.binpb")
  echo "buf-breaking: wrote api/releases/$ref.binpb"
  exit 0
fi
"$buf" breaking --against "$tmp"
echo "buf breaking: proto/ is compatible with $ref"
