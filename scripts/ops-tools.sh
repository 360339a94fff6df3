#!/usr/bin/env bash
# Installs what the deployment checks need, when missing (CI runs it from
# .ci/run; tests without these tools skip unless CI is set):
#   kustomize, kubeconform   Go module proxy, pinned, into .tools/bin
#   promtool, prometheus     Debian's prometheus package
#   skopeo, umoci            Debian, to check the OCI image layouts
set -euo pipefail
cd "$(dirname "$0")/.."
KUSTOMIZE_VERSION=v5.8.2
KUBECONFORM_VERSION=v0.8.0
tools=$PWD/.tools/bin

[ -x "$tools/kustomize" ] || GOBIN=$tools go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
[ -x "$tools/kubeconform" ] || GOBIN=$tools go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"

missing=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
if [ ${#missing[@]} -gt 0 ]; then
  apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  echo "ops-tools: installing ${missing[*]}"
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "ops-tools: kustomize $("$tools/kustomize" version), kubeconform $KUBECONFORM_VERSION," \
  "$(promtool --version 2>&1 | head -1 | cut -d' ' -f1-3), skopeo $(skopeo --version | cut -d' ' -f3), umoci $(umoci --version | cut -d' ' -f3)"
