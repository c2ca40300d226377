#!/usr/bin/env bash
# Build the local control plane's binaries from the Go module proxy and cache them
# outside the repo, keyed by version. Idempotent: a cached version is reused as-is.
#
#   hack/build-control-plane.sh [kube|node|etcd|helm|kwok|prometheus|seaweedfs ...]
#   (default: kube etcd helm prometheus seaweedfs)
#
# node is kubelet and kube-scheduler, for the harness's kubelet mode (docs/operations.md);
# asked for with kube, it builds right after kube, beside the other components.
#
# seaweedfs is the S3-compatible object store the tests and the demo move files through
# (its `weed` binary; versions.env pins a module pseudo-version).
#
# prometheus (and promtool) is Debian's package, unpacked rather than installed: no
# service, no files outside the cache.
#
# Output: $TASKMILL_CACHE/bin/<component>-<version>/ (default ~/.cache/taskmill).
# Components build in parallel. Each prints a few lines (start, a heartbeat each
# minute, done with its elapsed time); Go's own output goes to
# $TASKMILL_CACHE/logs/<component>-<version>.log, whose tail is shown if it fails.
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

cached_kube() {
  local out="$CACHE/bin/kube-v$K8S_VERSION"
  [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kubectl" ]
}
cached_node() {
  local out="$CACHE/bin/kube-v$K8S_VERSION-node"
  [ -x "$out/kubelet" ] && [ -x "$out/kube-scheduler" ]
}
cached_etcd() { [ -x "$CACHE/bin/etcd-v$ETCD_VERSION/etcd" ]; }
cached_helm() { [ -x "$CACHE/bin/helm-v$HELM_VERSION/helm" ]; }
cached_prometheus() {
  [ -x "$CACHE/bin/prometheus-$PROMETHEUS_VERSION/prometheus" ] &&
    [ -x "$CACHE/bin/prometheus-$PROMETHEUS_VERSION/promtool" ]
}
cached_kwok() { [ -x "$CACHE/bin/kwok-v$KWOK_VERSION/kwok" ]; }
cached_seaweedfs() { [ -x "$CACHE/bin/seaweedfs-v$SEAWEEDFS_VERSION/weed" ]; }

# Build k8s.io/kubernetes commands at v$K8S_VERSION into $1, from a scratch module.
build_kube_commands() {
  local out=$1; shift
  need_go
  local gomod minor ldf p=k8s.io/kubernetes/cmd c pkgs=()
  for c in "$@"; do pkgs+=("$p/$c"); done
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
  go get "${pkgs[@]/%/@v$K8S_VERSION}"
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  ldf="-s -w"
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  done
  mkdir -p "$out.tmp"
  go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldf" -o "$out.tmp/" "${pkgs[@]}"
  rm -rf "$out"; mv "$out.tmp" "$out"
  "$out/$1" --version >&2
}

build_kube() {
  build_kube_commands "$CACHE/bin/kube-v$K8S_VERSION" kube-apiserver kube-controller-manager kubectl
}

# The node of the kubelet mode (tests/harness/node.py): its own directory, so adding it
# leaves a warm kube-v<version> cache valid.
build_node() {
  build_kube_commands "$CACHE/bin/kube-v$K8S_VERSION-node" kubelet kube-scheduler
}

build_etcd() {
  local out="$CACHE/bin/etcd-v$ETCD_VERSION"
  need_go
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
  need_go
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_prometheus() {
  local out="$CACHE/bin/prometheus-$PROMETHEUS_VERSION"
  command -v apt-get >/dev/null || { log "prometheus: needs apt-get (Debian's package)"; return 1; }
  in_scratch
  # A fresh machine has no package lists yet.
  apt-get download "prometheus=$PROMETHEUS_VERSION" ||
    { apt-get update -q && apt-get download "prometheus=$PROMETHEUS_VERSION"; }
  dpkg-deb -x prometheus_*.deb unpacked
  mkdir -p "$out.tmp"
  cp unpacked/usr/bin/prometheus unpacked/usr/bin/promtool "$out.tmp/"
  rm -rf "$out"; mv "$out.tmp" "$out"
  "$out/prometheus" --version
}

build_kwok() {
  local out="$CACHE/bin/kwok-v$KWOK_VERSION"
  need_go
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_seaweedfs() {
  local out="$CACHE/bin/seaweedfs-v$SEAWEEDFS_VERSION" m=github.com/seaweedfs/seaweedfs gomod
  need_go
  in_scratch
  # Its go.mod has a replace directive, which go install refuses: a wrapper module
  # repeats it.
  gomod=$(go mod download -json "$m@v$SEAWEEDFS_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
  go mod init local/seaweedfsbuild >/dev/null 2>&1
  go mod edit -go="$(sed -nE 's/^go ([0-9.]+)$/\1/p' "$gomod")"
  sed -nE 's#^replace[[:space:]]+([^[:space:]]+)[[:space:]]+=>[[:space:]]+([^[:space:]]+)[[:space:]]+([^[:space:]]+)$#\1=\2@\3#p' "$gomod" |
    while read -r r; do go mod edit -replace "$r"; done
  go get "$m/weed@v$SEAWEEDFS_VERSION"
  mkdir -p "$out.tmp"
  go build -trimpath -ldflags "-s -w" -o "$out.tmp/weed" "$m/weed"
  rm -rf "$out"; mv "$out.tmp" "$out"
  "$out/weed" version >&2
}

# Run one component's build with its output in a log file, reporting progress.
run_build() {
  local c=$1 version=$2 logfile="$CACHE/logs/$1-v$2.log" start=$SECONDS rc=0 beat
  mkdir -p "$CACHE/bin" "$CACHE/logs"
  # One build per component at a time: concurrent test sessions may all find it missing.
  (
    flock 9
    if "cached_$c"; then exit 0; fi
    log "$c v$version: building (log: $logfile)"
    # The heartbeat and its sleeps hold neither the lock nor the caller's output open.
    ( while sleep 60 9>&- >/dev/null 2>&1; do
        log "$c: still building, $(( (SECONDS - start) / 60 )) min"
      done ) 9>&- &
    beat=$!
    # In the background so that errexit holds inside the build (it is off in `f || ...`).
    "build_$c" >"$logfile" 2>&1 &
    wait $! || rc=$?
    kill "$beat" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
      log "$c: FAILED after $(( SECONDS - start )) s; last lines of $logfile:"
      tail -n 20 "$logfile" >&2
      exit "$rc"
    fi
    log "$c v$version: built in $(( (SECONDS - start) / 60 ))m$(( (SECONDS - start) % 60 ))s"
  ) 9>"$CACHE/bin/.$c.lock"
}

declare -A VERSION_OF=(
  [kube]=$K8S_VERSION [node]=$K8S_VERSION [etcd]=$ETCD_VERSION [helm]=$HELM_VERSION [kwok]=$KWOK_VERSION
  [prometheus]=$PROMETHEUS_VERSION [seaweedfs]=$SEAWEEDFS_VERSION
)
components=("$@"); [ ${#components[@]} -gt 0 ] || components=(kube etcd helm prometheus seaweedfs)
# node compiles mostly the packages kube does: after kube, it reuses them from Go's build
# cache (about 2.5 min instead of 7 on 2 cores); side by side both would compile them.
with_kube=
[[ " ${components[*]} " == *" kube "* && " ${components[*]} " == *" node "* ]] && with_kube=1
pids=()
for c in "${components[@]}"; do
  [ -n "${VERSION_OF[$c]:-}" ] || { log "unknown component: $c"; exit 2; }
  case $c:$with_kube in
    node:1) continue ;;
    kube:1) { run_build kube "$K8S_VERSION" && run_build node "$K8S_VERSION"; } & ;;
    *) run_build "$c" "${VERSION_OF[$c]}" & ;;
  esac
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
