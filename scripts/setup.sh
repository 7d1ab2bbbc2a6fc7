#!/usr/bin/env bash
# Installs what CrateMae needs on Debian 12 (idempotent; quick when everything is present):
#   dataset-fashion-mnist  the default training data (/usr/share/datasets/fashion-mnist)
#   fonts-dejavu-core      text in plots and image grids
#   libjemalloc2           optional allocator for long runs (docs/performance.md)
#   python3-torch, numpy   only for the tests that check our .pth/.npy files with real PyTorch/NumPy, the PyTorch DDP
#                          round trip (python/crate_mae_ddp.py), and the official-code speed baseline (bench/vs_official.py)
#   python3-sklearn        only for the test that compares the linear probe with scikit-learn's LogisticRegression
#   libopenblas0-pthread   an optimised BLAS for that PyTorch (without it Debian's torch multiplies ~60x slower)
# Needs the .NET 10 SDK on PATH (https://learn.microsoft.com/dotnet/core/install/linux-debian).
set -euo pipefail
packages=(dataset-fashion-mnist fonts-dejavu-core libjemalloc2 python3-torch python3-numpy python3-sklearn libopenblas0-pthread)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 1; }
