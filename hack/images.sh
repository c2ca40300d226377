#!/usr/bin/env bash
# Container images without a registry: the project image built from the Dockerfile with
# Docker where an engine runs, else with podman on a base image made from Debian
# packages; and the sandbox ("pause") image the kubelet mode's containerd needs.
#
#   hack/images.sh taskmill [IMAGE]   build the project image (default taskmill:dev)
#   hack/images.sh base               the podman base image (cached tarball, imported)
#   hack/images.sh pause              the pause image, saved as a tarball for containerd
#   hack/images.sh archive IMAGE      print an image archive of IMAGE (cached by image ID)
#   hack/images.sh builder            print the builder used: docker or podman
#
# Tarballs are cached under $TASKMILL_CACHE/images (default ~/.cache/taskmill), keyed by
# what goes into them; podman needs the tools of hack/install-node.sh.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "$0")/.." && pwd)
while IFS='=' read -r key value; do
  case $key in ''|'#'*) continue ;; esac
  [ -n "${!key:-}" ] || printf -v "$key" '%s' "$value"
done <"$ROOT/hack/versions.env"
CACHE=${TASKMILL_CACHE:-$HOME/.cache/taskmill}
IMAGES=$CACHE/images
mkdir -p "$IMAGES"

log() { printf '[images] %s\n' "$*" >&2; }

# The Dockerfile runs `python -m venv` and pip (which must verify PyPI, hence the CA
# certificates, including any extra ones this host trusts and its builds need).
BASE_PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
EXTRA_CAS=/usr/local/share/ca-certificates

# Podman cannot raise rlimits on machines without CAP_SYS_RESOURCE ("error setting
# rlimit type 7"): give its containers limits it can set. 32768 is podman's own ceiling.
podman_conf() {
  local conf=$CACHE/podman/containers.conf
  mkdir -p "${conf%/*}"
  cat >"$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF=$conf
}

docker_engine() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

builder() { if docker_engine; then echo docker; else echo podman; fi; }

base_key() {
  { echo "$BASE_SUITE $BASE_PACKAGES"; cat "$EXTRA_CAS"/*.crt 2>/dev/null || true; } |
    sha256sum | cut -c1-12
}

# Prints the base image's name, building and importing it when missing.
base() {
  local key tar image
  key=$(base_key)
  tar=$IMAGES/base-$BASE_SUITE-$key.tar
  image=localhost/taskmill-base:$BASE_SUITE-$key
  if [ ! -s "$tar" ]; then
    log "base: mmdebstrap $BASE_SUITE with $BASE_PACKAGES (about 1.5 min)"
    mmdebstrap --variant=minbase --include="$BASE_PACKAGES" \
      --customize-hook="cp $EXTRA_CAS/*.crt \"\$1/usr/local/share/ca-certificates/\" 2>/dev/null || true" \
      --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      "$BASE_SUITE" "$tar.partial.tar" >"$IMAGES/base.log" 2>&1 ||
      { tail -n 20 "$IMAGES/base.log" >&2; rm -rf "$tar.partial.tar"; exit 1; }
    mv "$tar.partial.tar" "$tar"
  fi
  if ! podman image exists "$image"; then
    podman import --quiet "$tar" "$image" >/dev/null
  fi
  echo "$image"
}

# Prints the pause image archive, building it when missing.
pause() {
  local key tar image=localhost/taskmill-pause:latest work ctr
  key=$(cat "$ROOT/hack/pause/main.go" "$ROOT/hack/pause/go.mod" | sha256sum | cut -c1-12)
  tar=$IMAGES/pause-$key.tar
  if [ ! -s "$tar" ]; then
    command -v go >/dev/null || { log "pause: Go is required"; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    (cd "$ROOT/hack/pause" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags "-s -w" -o "$work/pause" .)
    ctr=$(buildah from scratch)
    buildah copy "$ctr" "$work/pause" /pause >/dev/null
    buildah config --entrypoint '["/pause"]' "$ctr"
    buildah commit --quiet "$ctr" "$image" >/dev/null
    buildah rm "$ctr" >/dev/null
    podman save --quiet -o "$tar.tmp" "$image"
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar"
}

taskmill() {
  local image=${1:-taskmill:dev}
  if docker_engine; then
    docker build -t "$image" "$ROOT"
    return
  fi
  command -v podman >/dev/null || {
    log "no Docker engine and no podman: run hack/install-node.sh (root) or start Docker"
    exit 1
  }
  local base_image; base_image=$(base)
  log "podman build -t $image (base $base_image)"
  podman build --pull=never --network host --build-arg "PYTHON_IMAGE=$base_image" -t "$image" "$ROOT"
}

# Prints an archive of IMAGE (as built by `taskmill`), cached by image ID: an unchanged
# image is not written again. Older archives of the same name are removed.
archive() {
  local image=$1 engine id name tar
  engine=$(builder)
  id=$("$engine" image inspect --format '{{.Id}}' "$image")
  id=${id#sha256:}
  name=$(printf '%s' "${image%:*}" | tr -c 'a-zA-Z0-9.-' '_')
  tar=$IMAGES/$name-${id:0:12}.tar
  if [ ! -s "$tar" ]; then
    rm -f "$IMAGES/$name"-*.tar
    "$engine" save -o "$tar.partial" "$image" >/dev/null
    mv "$tar.partial" "$tar"
  fi
  echo "$tar"
}

podman_conf
case ${1:-} in
  taskmill) shift; taskmill "$@" ;;
  base) base ;;
  pause) pause ;;
  archive) shift; archive "$@" ;;
  builder) builder ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
