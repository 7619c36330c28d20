#!/usr/bin/env bash
# GPU check of issue 15 (run groups, fused Triton DSTD kernels, CUDA graphs) for a session that gets
# a CUDA device. Nothing here has run on a GPU yet: this script is how the first one finds out.
#
#   run from the repository root, e.g. through the device tool:
#     carry: ["data/fashion_mnist_uint8.pt"]   (53 MiB; copy it first: mkdir -p data &&
#                                                cp /work/main/data/fashion_mnist_uint8.pt data/)
#     command: bash benchmarks/gpu_check.sh    (timeout_s 520)
#
# Imports only torch (a CUDA build), numpy, scipy, yaml, pytest and triton (no snakemake, papermill,
# sky130, pandas, tqdm). Writes into $OUT (default ./gpu_check_out): env.json, tests.log/tests.xml
# and one paper-cost JSON + log per configuration. Every step has its own time limit, so one that
# fails or hangs still leaves the others' results; the whole script stays under ~8 minutes on an
# H200. Order = priority: equivalence first, then the cost of the paper profile.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
export OMP_WAIT_POLICY=PASSIVE
unset TRITON_INTERPRET  # compile the Triton kernels for the GPU
PY=${PYTHON:-python}
start=$(date +%s)
log() { echo "[gpu_check $(( $(date +%s) - start )) s] $*" | tee -a "$OUT/gpu_check.log"; }

log "environment"
timeout 60 "$PY" - > "$OUT/env.json" 2>> "$OUT/gpu_check.log" <<'EOF'
import json, platform, torch
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
try:
    import triton
    info["triton"] = triton.__version__
except ImportError as err:
    info["triton"] = f"missing: {err}"
print(json.dumps(info, indent=1))
EOF
cat "$OUT/env.json"

# 1. Equivalence on CUDA (about 2 min): fused kernels vs the reference (forward and gradients, compiled
#    Triton), a run in a group vs the same run alone (CUDA generators), a group replayed from a CUDA
#    graph vs the eager group, the explicit-generator streams vs the old global-RNG ones.
log "equivalence tests"
timeout 200 "$PY" -m pytest -q -p no:cacheprovider -x --junitxml="$OUT/tests.xml" \
    tests/test_kernels.py tests/test_group.py > "$OUT/tests.log" 2>&1
log "tests exit $? ($(tail -n 1 "$OUT/tests.log"))"

# 2. The paper profile's cost, measured per (M, offset) point on the GPU (about 1-2 min each):
#    groups of 8 with the fused kernels (the configuration the targets are about), then with the
#    reference kernels, then the same groups replayed from CUDA graphs.
cost() {  # name, time limit, extra paper-cost options
    local name=$1 limit=$2
    shift 2
    log "paper-cost $name"
    timeout "$limit" "$PY" -m pnnlib.bench paper-cost --device cuda --repeats 5 --json "$OUT/paper_cost_$name.json" \
        "$@" > "$OUT/paper_cost_$name.log" 2>&1
    log "paper-cost $name exit $?"
}
cost g8_triton 110 --group 8 --kernel triton
cost g8_reference 80 --group 8 --kernel reference
cost g8_triton_graph 80 --group 8 --kernel triton --cuda-graph
log "done"
