#!/usr/bin/env bash
# The speed benchmarks on a CUDA machine, as one script (CI never needs it):
#   bash bench/gpu_suite.sh [OUT_DIR]
# biLM inference (small and original, batches of 32 and 128, fp32 and bf16 autocast) and
# fine-tuning against the reference algorithm, then pretraining tokens/s of mini and
# small, after the tests that compare GPU with CPU. Each table goes to OUT_DIR (default bench-gpu/) and to the terminal. Needs
# $ELMO_TASKS_DATA (sst2/, wikitext2/) or shared/data beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-gpu}"
mkdir -p "$out"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
# The tests that compare GPU with CPU (outputs, recurrence gradients) skip without a GPU: run them here.
python -m pytest -q -p no:cacheprovider tests/elmo/test_model.py tests/elmo/test_recurrence.py | tee "$out/gpu_tests.txt"
python bench/elmo_throughput.py --device cuda --rounds 3 --batches 28 --bf16 --grad-batches 4 | tee "$out/elmo_throughput.md"
python bench/pretrain_throughput.py --device cuda --models mini small --steps 20 --batch-sizes 128 512 | tee "$out/pretrain_throughput.md"
