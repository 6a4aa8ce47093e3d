#!/usr/bin/env bash
# One short call on a lent GPU machine (no package index): meta-train the real-photo candidates of
# tools/photo_candidates.py side by side for SECONDS each, then score each one, ImageNet and the shapes-trained shipped
# checkpoint on the real-photo development set (224 px, 1- and 5-shot, BN running and batch). Everything lands in $OUT/cand.
# Carried ignored folders: .gpu_wheels (offline ImageNet weights, fastprogress, fastcore), .photos, .devset.
# Usage (device tool): bash tools/gpu_photo_run.sh SECONDS
set -uo pipefail
SECS=${1:-270}
mkdir -p /tmp/wheels && for w in .gpu_wheels/*.whl; do python -m zipfile -e "$w" /tmp/wheels; done
export PYTHONPATH=$PWD:/tmp/wheels MLIIS_NB_CACHE=/tmp/mliis_cache OMP_NUM_THREADS=2
python -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, torch.cuda.get_device_name(0))"
R=${OUT:-/tmp/out}/cand; mkdir -p "$R"
python -m mliis_nb.photo_tasks .photos /tmp/photo_tasks --size 160 > "$R/photo_tasks.json" 2>&1
export PHOTO_TASKS=/tmp/photo_tasks DEVSET=$PWD/.devset
for n in photo_frozen_128 shapes_frozen_128 photo_bnfrozen_128 photo_free_128 photo_frozen_224; do
  ( python tools/photo_candidates.py train $n "$R" cuda "$SECS" > "$R/$n.log" 2>&1
    python tools/photo_candidates.py score "$R/$n/checkpoint.safetensors" $n "$R" cuda >> "$R/$n.log" 2>&1 ) &
done
( python tools/photo_candidates.py score imagenet imagenet "$R" cuda
  python tools/photo_candidates.py score checkpoints/demo_meta.safetensors shipped_shapes "$R" cuda ) > "$R/baselines.log" 2>&1 &
wait
find "$R" -name '*.tmp*' -delete; find "$R" -name 'checkpoint.safetensors.*' -delete 2>/dev/null
du -sh "$R"/*; tail -n 3 "$R"/*.log
