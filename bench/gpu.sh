#!/usr/bin/env bash
# Run on the lent GPU machine (see ../shared/GPU.md): install the carried wheels and the
# project offline, run the tests with the compiled kernels (GPU-only tests included), then
# the GPU subset of the benchmarks, and leave the log, the JSON and the report under $OUT.
# Here, without a GPU, `OUT=/tmp/out bash bench/gpu.sh` runs the same steps on the CPU.
set -euo pipefail
OUT=${OUT:-/tmp/gpuaug-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -m pip install -q --no-deps --no-build-isolation -e .

nvidia-smi || true
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"

# Tests: with CUDA present conftest leaves TRITON_INTERPRET unset, so the real kernels run.
timeout 240 python3 -m pytest -q -x tests

# Benchmarks: the quick set (about 30 on a GPU), short rounds.
GPUAUG_BENCH_QUICK=1 timeout 240 python3 -m pytest bench --benchmark-only -q \
  --benchmark-max-time=0.2 --benchmark-min-rounds=3 --benchmark-json "$OUT/bench.json"
python3 bench/report.py "$OUT/bench.json" --out "$OUT"
