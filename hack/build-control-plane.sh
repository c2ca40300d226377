#!/usr/bin/env bash
# Build the local control plane's binaries from the Go module proxy and cache them
# outside the repo, keyed by version. Idempotent: a cached version is reused as-is.
#
#   hack/build-control-plane.sh [kube|etcd|helm|kwok ...]   (default: kube etcd helm)
#
# Output: $TASKMILL_CACHE/bin/<component>-<version>/ (default ~/.cache/taskmill).
# Versions are pinned in hack/versions.env, which tests/harness reads too; an
# environment variable of the same name (e.g. K8S_VERSION=1.34.4) overrides a pin.
set -euo pipefail

while IFS='=' read -r key value; do
  case $key in ''|'#'*) continue ;; esac
  [ -n "${!key:-}" ] || printf -v "$key" '%s' "$value"
done <"$(dirname "$0")/versions.env"
CACHE=${TASKMILL_CACHE:-$HOME/.cache/taskmill}

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

need_go() {
  command -v go >/dev/null || { log "Go is required to build the control plane (or set TASKMILL_TEST_KUBECONFIG)"; exit 1; }
}

# Each build runs in a subshell (see the loop below); this moves it to a scratch
# module directory that is removed when the subshell exits.
in_scratch() {
  local work; work=$(mktemp -d)
  trap 'cd / && rm -rf "'"$work"'"' EXIT
  cd "$work"
}

build_kube() {
  local out="$CACHE/bin/kube-v$K8S_VERSION"
  [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kubectl" ] && return 0
  need_go
  log "building kube-apiserver, kube-controller-manager, kubectl v$K8S_VERSION (cold build: 10-25 min on 2 cores)"
  local gomod minor ldf p=k8s.io/kubernetes/cmd
  in_scratch
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
  go mod init local/k8sbuild >/dev/null 2>&1
  # Mirror upstream's go and godebug lines: they are ignored when kubernetes is a dependency.
  local gover; gover=$(sed -nE 's/^go ([0-9.]+)$/\1/p' "$gomod")
  go mod edit -go="$gover"
  grep -qE '^godebug ' "$gomod" && go mod edit -godebug="$(sed -nE 's/^godebug (.*)$/\1/p' "$gomod")"
  # k8s.io/kubernetes points its staging modules at ./staging, absent from the module zip:
  # pin each to the matching v0.X.Y release instead.
  sed -nE 's#^[[:space:]]*(k8s\.io/[a-z0-9-]+) => \./staging/.*#\1#p' "$gomod" |
    while read -r m; do go mod edit -replace "$m=$m@v0.${K8S_VERSION#1.}"; done
  go get "$p/kube-apiserver@v$K8S_VERSION" "$p/kube-controller-manager@v$K8S_VERSION" "$p/kubectl@v$K8S_VERSION"
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  ldf="-s -w"
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  done
  mkdir -p "$out.tmp"
  go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldf" -o "$out.tmp/" \
    "$p/kube-apiserver" "$p/kube-controller-manager" "$p/kubectl"
  rm -rf "$out"; mv "$out.tmp" "$out"
  "$out/kube-apiserver" --version >&2
}

build_etcd() {
  local out="$CACHE/bin/etcd-v$ETCD_VERSION"
  [ -x "$out/etcd" ] && return 0
  need_go
  log "building etcd v$ETCD_VERSION"
  in_scratch
  # go install fails on etcd's server module (it has replace directives): use a wrapper module.
  go mod init local/etcdbuild >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  mkdir -p "$out.tmp"
  go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
  rm -rf "$out"; mv "$out.tmp" "$out"
  "$out/etcd" --version >&2
}

build_helm() {
  local out="$CACHE/bin/helm-v$HELM_VERSION"
  [ -x "$out/helm" ] && return 0
  need_go
  log "building helm v$HELM_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_kwok() {
  local out="$CACHE/bin/kwok-v$KWOK_VERSION"
  [ -x "$out/kwok" ] && return 0
  need_go
  log "building kwok v$KWOK_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

components=("$@"); [ ${#components[@]} -gt 0 ] || components=(kube etcd helm)
for c in "${components[@]}"; do
  case "$c" in
    # One build per component at a time: concurrent test sessions may all find it missing.
    kube|etcd|helm|kwok) mkdir -p "$CACHE/bin"; ( flock 9; "build_$c" ) 9>"$CACHE/bin/.$c.lock" ;;
    *) log "unknown component: $c"; exit 2 ;;
  esac
done
