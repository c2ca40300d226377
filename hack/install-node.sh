#!/usr/bin/env bash
# What the kubelet mode of the local control plane needs from Debian, installed when
# missing: a container runtime (containerd, runc, CNI plugins), podman and buildah to
# build images without a Docker engine, mmdebstrap for the base image, iptables and
# conntrack for the kubelet. Needs root and apt-get; without them it says so and exits
# non-zero, and the e2e test skips with that reason.
#
#   hack/install-node.sh          install what is missing
#   hack/install-node.sh --check  only report; exit 1 when something is missing
set -euo pipefail

# Package, and the command that shows it is installed.
PACKAGES=(
  podman:podman buildah:buildah containerd:containerd runc:runc
  containernetworking-plugins:/usr/lib/cni/host-local mmdebstrap:mmdebstrap
  iptables:iptables conntrack:conntrack
)

missing=()
for entry in "${PACKAGES[@]}"; do
  package=${entry%%:*} probe=${entry#*:}
  if [[ $probe == /* ]]; then [ -x "$probe" ] && continue
  else command -v "$probe" >/dev/null && continue
  fi
  missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "node tools: all present"
  exit 0
fi
if [ "${1:-}" = --check ]; then
  echo "node tools missing: ${missing[*]}"
  exit 1
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "node tools missing (${missing[*]}) and not installable here (needs root and apt-get)"
  exit 1
fi
echo "node tools: installing ${missing[*]} (about 30 s)"
log=/tmp/taskmill-apt-node.log
export DEBIAN_FRONTEND=noninteractive
# containerd's package would start its own service: the harness runs its own daemon.
apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1 || {
  apt-get update -q >>"$log" 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1
} || { echo "node tools: apt-get failed; see $log"; tail -n 20 "$log"; exit 1; }
echo "node tools: installed"
