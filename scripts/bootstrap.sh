#!/usr/bin/env bash
# Set up everything the README's two commands need, on a fresh machine or an existing one.
#   1. Debian packages: ngspice (run as a subprocess by pnnlib.circuit) and dataset-fashion-mnist
#      (real Fashion-MNIST for machines without internet).
#   2. A virtual environment .venv with pnnlib and its dependencies (pyproject.toml).
#   3. The Jupyter kernel "pnn-imc" that papermill runs the notebooks with.
# A second run skips what is already there. Set PNN_SKIP_APT=1 to never call apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bootstrap] %s\n' "$*"; }

# --- 1. system packages ---------------------------------------------------------------------
missing=()
command -v ngspice >/dev/null 2>&1 || missing+=(ngspice)
if [ -z "${PNN_FMNIST_DIR:-}" ] && [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
  missing+=(dataset-fashion-mnist)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if [ -z "${PNN_SKIP_APT:-}" ] && command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "ERROR: missing system packages: ${missing[*]}"
    say "install them with:  sudo apt-get install ${missing[*]}"
    say "(conda users: 'conda env create -f environment.yml' provides ngspice; Fashion-MNIST can"
    say " instead be downloaded by torchvision, or pointed to with PNN_FMNIST_DIR=<dir of the .gz files>)"
    exit 1
  fi
fi

# --- 2. virtual environment -----------------------------------------------------------------
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.pnnlib-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pnnlib and its dependencies into .venv (first time: a few minutes)"
  log=.venv/pip-install.log
  if ! .venv/bin/python -m pip install -e '.[test]' >"$log" 2>&1; then
    tail -n 30 "$log"
    say "ERROR: pip could not install the project (full log: $log)"
    exit 1
  fi
  echo "$want" > "$stamp"
else
  say ".venv is up to date"
fi

# --- 3. Jupyter kernel for papermill ---------------------------------------------------------
kernel=.venv/share/jupyter/kernels/pnn-imc/kernel.json
if ! grep -qF "$(pwd)/.venv/bin/python" "$kernel" 2>/dev/null; then
  say "registering the Jupyter kernel pnn-imc"
  .venv/bin/python -m ipykernel install --sys-prefix --name pnn-imc \
    --display-name "pnn-imc (pnnlib)" --env OMP_WAIT_POLICY PASSIVE >/dev/null
fi
say "ready"
