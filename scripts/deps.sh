#!/usr/bin/env bash
# deps.sh [build|test|bench|cluster] - install the Debian packages pydron needs, only
# those that are missing. Needs root (or sudo) when something is missing.
# bench: also the optional peers of the benchmarks (oneTBB for bench_core).
# cluster: also the batch systems the cluster tests start in network
# namespaces (Slurm with munge, OpenMPI); without them those tests skip.
set -euo pipefail

want=(cmake ninja-build gcc g++ make pkg-config binutils
      libcriterion-dev libffi-dev libnng-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler)
if [[ "${1:-test}" == bench ]]; then
    want+=(g++ libtbb-dev)
fi
if [[ "${1:-test}" == cluster ]]; then
    want+=(slurm-wlm munge openmpi-bin)
fi
if [[ "${1:-test}" == test ]]; then
    want+=(valgrind python3 python3-dev python3-venv python3-pip iproute2 openssl clang libclang-rt-dev abigail-tools
                openssh-server openssh-client)
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
