#!/usr/bin/env bash
# Checks proto/ for breaking changes against the last release tag (or the
# git ref given as $1) with buf's FILE rules, offline: the tag's protos are
# taken from git and built with the same google/api protos (third_party/,
# which git ignores and `make generate` fills) into a workspace to compare
# against.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=${BUF:-.tools/bin/buf}
ref=${1:-$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null || true)}
if [ -z "$ref" ]; then
  echo "buf-breaking: no release tag (v*) in this clone; fetch tags (git fetch --tags) or name a ref" >&2
  exit 1
fi
[ -f third_party/googleapis/google/api/annotations.proto ] || ./scripts/googleapis.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$ref" proto buf.yaml | tar -x -C "$tmp"
cp -r third_party "$tmp/"
# The tag's workspace as it was, with the same modules as this one.
"$buf" breaking --against "$tmp"
echo "buf breaking: proto/ is compatible with $ref"
