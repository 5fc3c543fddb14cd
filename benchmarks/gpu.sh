#!/usr/bin/env bash
# GPU entry point: the same benchmarks at larger sizes, in under 10 minutes on one GPU.
#
#   bash benchmarks/gpu.sh OUTDIR          # writes env.txt, step.txt, train.txt, memory.txt, log.txt
#   QUICK=1 bash benchmarks/gpu.sh OUTDIR  # a smoke run at tiny sizes (any machine)
#
# Needs python3 with jax (with its CUDA plugin) and optax installed; nothing is
# downloaded. Each part has its own time limit, so a slow part cannot eat the
# others' time, and each table is written as soon as its part ends.
set -u
OUT=${1:?usage: bash benchmarks/gpu.sh OUTDIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
Q=""; BIG=$((2**28)); MID=$((2**26)); LAYERS=300; STEPS="--steps 10"
if [ -n "${QUICK:-}" ]; then Q="--quick"; BIG=4096; MID=4096; LAYERS=8; STEPS=""; fi
LOG="$OUT/log.txt"
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv 2>&1
  $PY -c "import jax, optax, numpy; print('jax', jax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, jax.devices())"
} > "$OUT/env.txt" 2>&1
part() {  # part SECONDS FILE ARGS...: run one benchmark with a time limit, append its table to FILE
  local limit=$1 file=$2; shift 2
  echo "## $*" >> "$file"
  timeout "$limit" $PY "$@" >> "$file" 2>> "$LOG"; echo "# exit $? after limit ${limit}s: $*" >> "$LOG"
}
part 150 "$OUT/step.txt" benchmarks/bench_step.py $Q --size $BIG --trees one,transformer,odd --opts adam,adamw_clip,sgd_momentum
part 170 "$OUT/step.txt" benchmarks/bench_step.py $Q --size $MID --trees small --opts adam --no-undonated $STEPS
part 190 "$OUT/train.txt" benchmarks/bench_train.py $Q --layers $LAYERS --models resmlp $STEPS
# float32 vs bfloat16 vs 8-bit Adam state (fo.adam8bit), fo vs optax: state bytes, step peak memory, step time
part 90 "$OUT/memory.txt" benchmarks/bench_memory.py $Q --size $MID
date -u >> "$LOG"
