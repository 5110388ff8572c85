#!/usr/bin/env bash
# Installs everything rmscore needs to build and test on Debian 12 (run as root, or with sudo available).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PACKAGES=(
  build-essential cmake pkg-config            # toolchain
  libopenmpi-dev openmpi-bin                  # MPI pipeline
  libopenblas-dev                             # sgemm
  libhdf5-dev hdf5-tools                      # datasets and results
  libcjson-dev                                # config.json, safetensors headers, JSONL
  libpcre2-dev                                # tokenizer regex
  libssl-dev                                  # SHA-256 (libcrypto) for provenance hashes
  tzdata                                      # time zones (score --stop-at reads local ISO times)
  clang libfuzzer-14-dev                      # fuzz targets (-DRMSCORE_FUZZ=ON, benchmarks/fuzz.sh)
  python3 python3-numpy python3-h5py python3-jinja2 python3-scipy  # test references (/usr/bin/python3)
  chromium                                    # report --html rendered in a browser (tests, via npm playwright-core)
)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
# Node.js runs the Hugging Face tokenizers reference in the tests (npm packages pinned in package-lock.json)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
cd "$(dirname "$0")/.."
bash scripts/install-slurm.sh   # the Slurm tests run the shipped batch scripts on a private Slurm
npm ci --no-audit --no-fund --loglevel=error >/dev/null
echo "rmscore: dependencies installed"
