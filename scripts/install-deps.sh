#!/usr/bin/env bash
# Installs the Debian 12 packages this project builds, tests and runs with.
# Idempotent: only missing packages are installed; needs root (or sudo) when any are missing.
set -euo pipefail

# What `cmake -S . -B build` configures and compiles with. docker/Dockerfile's build stage installs
# exactly this list and its runtime stage exactly RUNTIME_PACKAGES: tests/deploy/check_packages.py
# fails when they drift apart.
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libgloo-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libabsl-dev prometheus-cpp-dev libyaml-cpp-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libssl-dev
  libpcre2-dev libicu-dev
)

# The packages that ship the shared libraries the built binaries load (ldd, then dpkg -S); the rest
# of what they load arrives as dependencies of these. Two come in through libtorch and are named to
# make the choice explicit: libopenblas0-openmp provides libblas.so.3 and liblapack.so.3 (apt would
# otherwise pick the slow reference BLAS), libgloo0 carries the data-parallel trainer's collectives.
# libpcre2-8-0 and libicu72 run the Hugging Face tokenizer's Unicode regexes and normalization.
# ca-certificates gives the CLI trust roots for TLS servers when no --tls-ca-file is named.
# tests/deploy/check_packages.py checks this list against ldd of the binaries.
RUNTIME_PACKAGES=(
  libtorch1.13 libopenblas0-openmp libgloo0
  libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623
  libprometheus-cpp-core1.0 libyaml-cpp0.7 libsentencepiece0 libssl3
  libpcre2-8-0 libicu72
  ca-certificates
)

# Only the tests and developer tooling need these: ccache and git for working on the tree, Python
# grpcio for the cross-implementation client test, promtool (prometheus) for the metrics and alert
# rule tests, docker-compose to validate docker/docker-compose.yml offline (it needs no engine),
# openssl for the throwaway certificates of the TLS tests; clang and its runtime libraries
# (libFuzzer) for the fuzz targets of tests/fuzz; chromium (headless) and python3-markdown render an
# experiment report with its SVG plots in a real browser (tests/experiment/render_report.py).
TEST_PACKAGES=(
  ccache git curl openssl clang libclang-rt-dev
  python3 python3-yaml python3-grpcio python3-grpc-tools python3-markdown
  prometheus docker-compose
  chromium
)

# Commands the deployment tests run, with the Debian package that provides each. Only installed
# when the command is missing: another distribution of the same tool (kubectl from the Google
# Cloud CLI, Node.js from NodeSource) ships the same paths, and dpkg refuses to overwrite them.
declare -A COMMAND_PACKAGES=(
  [kubectl]=kubernetes-client
  [node]=nodejs
  [npm]=npm
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
for cmd in "${!COMMAND_PACKAGES[@]}"; do
  pkg=${COMMAND_PACKAGES[$cmd]}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
