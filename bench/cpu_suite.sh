#!/usr/bin/env bash
# The speed benchmarks of docs/benchmarks.md on CPU, one after the other (about 25 minutes
# on 2 busy cores):  bash bench/cpu_suite.sh [THREADS] [OUT_DIR]
# biLM inference and fine-tuning against the reference algorithm, pretraining tokens/s of
# mini and small, the framework share of a cached frozen-ELMo training step and the rate of
# per-step weight products by weight size. Each table
# goes to OUT_DIR (default bench-cpu/) and to the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1}"
out="${2:-bench-cpu}"
mkdir -p "$out"
python bench/elmo_throughput.py --rounds 3 --batches 8 --grad-batches 2 --bf16 --threads "$threads" | tee "$out/elmo_throughput.md"
python bench/pretrain_throughput.py --models mini small --steps 20 --threads "$threads" | tee "$out/pretrain_throughput.md"
python bench/step_overhead.py --train 1000 --epochs 3 --rounds 3 --threads "$threads" | tee "$out/step_overhead.md"
python bench/weight_stream.py --threads "$threads" | tee "$out/weight_stream.md"
