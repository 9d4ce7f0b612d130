#!/usr/bin/env bash
# Run ON THE GPU MACHINE (the device tool's `run`, after benchmarks/gpu/prepare.sh
# here): the CUDA tests and the GPU benchmarks in one call of about 8 minutes.
# Every step has its own time limit, so a hang costs one step, not the lease.
# Logs go to $OUT (they come back) and to stdout: env.txt, cuda_tests.txt,
# bench_search.txt, bench_mlp.txt, bench_gputime.txt, summary.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/nnwidgets-gpu}
mkdir -p "$OUT"
if ! ls .whl/*.whl > /dev/null 2>&1; then
    echo "no wheels in .whl/: run benchmarks/gpu/prepare.sh here first and carry .whl" | tee "$OUT/summary.txt"
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" | tee "$OUT/summary.txt"; exit 2; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1
[ -f .gpu-data/Data_Cortex_Nuclear.csv ] && export NNWIDGETS_MICE_CSV=$PWD/.gpu-data/Data_Cortex_Nuclear.csv

step() {  # step NAME LIMIT_S COMMAND...: runs it, logs it, records its exit status
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    echo "== $name: $*" | tee "$OUT/$name.txt"
    timeout "$limit" "$@" 2>&1 | tee -a "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "$name: exit $rc in $((SECONDS - t0)) s (limit $limit s)" | tee -a "$OUT/summary.txt"
}

step env 60 bash -c 'nvidia-smi; lscpu | head -20; python3 -c "
import torch, sklearn, IPython, ipywidgets, anywidget
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"-\")
print(\"sklearn\", sklearn.__version__, \"IPython\", IPython.__version__, \"ipywidgets\", ipywidgets.__version__,
      \"anywidget\", anywidget.__version__)"'
# the CUDA-marked tests (the rest of the suite runs in CI, on the CPU)
step cuda_tests 180 python3 -m pytest -p no:cacheprovider -o addopts= -m cuda -rs -v \
    tests/trainer/test_failures_and_events.py tests/timing/test_cuda.py tests/extension/test_module_training.py
# issue 6: the lectures' searches with nnwidgets on the GPU against scikit-learn on one CPU thread
step bench_search 300 python3 benchmarks/bench_search.py --device cuda --threads 1 --dtype float32,bfloat16
step bench_mlp 120 python3 benchmarks/bench_mlp.py --cuda --quick
step bench_gputime 90 python3 benchmarks/bench_gputime.py --rounds 3
echo "== done" | tee -a "$OUT/summary.txt"
