#!/usr/bin/env bash
# The prepared GPU check (issue 16), for a machine lent for about 15 minutes in all: five steps
# in order, each under its own timeout, each writing under $OUT (default benchmarks/results/gpu).
# It runs the repository as it is (PYTHONPATH=.), on that machine's own JAX, NumPyro, pandas.
#
#   bash benchmarks/gpu_check.sh            # all five steps, about 10 minutes
#
# 1. run-to-run determinism (studies/determinism_check.py), with XLA's deterministic
#    scatter (jaxmice's default on a GPU) and without it (JAXMICE_DETERMINISTIC=0);
# 2. the 1M-row IPD job (bench.py ipd, m 20, maxit 20): compile, per-iteration (warm) time
#    and the floor (bytes per iteration / 4.8 TB/s); the analysis reported separately;
# 3. the 1,000-replication simulation study (bench.py simulation --no-r --big 0);
# 4. padded against segment reductions (bench.py segments --vmapped 20), with the
#    deterministic-scatter variants;
# 5. the fast tests of the sampler, the devices, the programs and the batches.
#
# The jobs append their results rows (with the commit and the versions) to $OUT/results.csv,
# and the simulation writes its summary under $OUT/simulation, so that the CPU results in
# benchmarks/results/ are left as they are.
#
# Expected (CPU numbers of benchmarks/results/*/summary.md for comparison): step 1 prints
# "bitwise equal True" for both jobs with the flag; step 2 prints the phase table of
# the ipd job (goal: warm imputation <= 2 s, within 10x the floor of 32 ms for maxit 20);
# step 3 prints "jaxmice ... s" (goal <= 10 s); step 4 prints one table row per variant;
# step 5 ends "N passed".
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 JAXMICE_COMPILATION_CACHE=0
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit} s)"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  echo "== $name: exit ${PIPESTATUS[0]}"
}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
step determinism 100 python3 studies/determinism_check.py --out "$OUT/determinism.json"
JAXMICE_DETERMINISTIC=0 step determinism_off 80 python3 studies/determinism_check.py \
  --out "$OUT/determinism_off.json"
step ipd 240 python3 benchmarks/bench.py ipd --out "$OUT" --results "$OUT/results.csv"
step simulation 90 python3 benchmarks/bench.py simulation --no-r --big 0 \
  --out "$OUT/simulation" --results "$OUT/results.csv"
step segments 90 python3 benchmarks/bench.py segments --vmapped 20 --runs 5 \
  --out "$OUT/segments.json" --results "$OUT/results.csv"
step tests 120 python3 -m pytest -q -x -p no:cacheprovider tests/engine/test_sampler.py \
  tests/runtime/test_devices.py tests/runtime/test_programs.py tests/engine/test_batch.py
