#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one short script (CI has no GPU; run this where one is):
#   MMAR_CACHE=<folder with i3d-kinetics400-rgb-torch.pt> bash benchmarks/gpu_checks.sh OUT_DIR PAPER_PAIR_EPOCHS
# 1. the ensemble trainer on CUDA (vmap) against the same trainings alone on the CPU;
# 2. I3D on CUDA: fp32 against the JAX reference logits, fp16 / bf16 autocast, channels_last_3d;
# 3. the training benchmark on CUDA (ensembles of 1 to 220 members) and the projected time of the
#    `paper` profile's training from its pair-epochs (python -m mmar bench training --count-paper RUN_DIR).
# Uses the package from this checkout (PYTHONPATH=.), no papermill, PyAV or submitit.
set -uo pipefail
out=${1:-runs/gpu_checks}
paper=${2:-0}
mkdir -p "$out"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_ensemble.py -k cuda 2>&1 | tail -4
[ "${SKIP_I3D:-0}" = 1 ] || timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_i3d.py -k "cuda" 2>&1 | tail -6
args=(--device cuda --members 1,11,44,220 --skip-cpu-comparison --out "$out/bench")
[ "$paper" != 0 ] && args+=(--paper-pair-epochs "$paper")
timeout 300 python3 benchmarks/bench_training.py "${args[@]}" 2>&1 | tail -12
