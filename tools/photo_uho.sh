#!/usr/bin/env bash
# Each initialisation's own UHO omega on the real-photo development set (issue: the shipped initialisation must beat
# ImageNet on real photographs; "both initialisations get the same U: the defaults, and each one's own UHO omega").
# UHO searches U's learning rate (Table 4's space, early stopping with max_steps 20) on the dev set's validation class
# (DEVSET/split/val.txt), then tools/photo_candidates.py scores each initialisation on the test classes with its omega.
# Usage: bash tools/photo_uho.sh OUT [DEVICE] [N_TASKS] [N_CALLS] [SHOTS]   (SHOTS: "1 5" by default, or "1"; DEVSET: tools/make_devset.sh's
# folder, default .devset; INITS: the initialisations, default "imagenet shipped"; BNS: the BN modes scored, see photo_candidates.py). On 2 CPU cores one 1-shot trial of 4 tasks x 20 steps at 224 px takes 1-3 minutes.
set -euo pipefail
OUT=${1:?usage: photo_uho.sh OUT [DEVICE] [N_TASKS] [N_CALLS] [SHOTS]}; DEV=${2:-cpu}; NT=${3:-6}; NC=${4:-8}; SHOTS=${5:-1 5}; D=${DEVSET:-.devset}
PY=${PY:-.venv/bin/python}; PM=${PM:-.venv/bin/papermill}
mkdir -p "$OUT"
for init in ${INITS:-imagenet shipped}; do
  uhos=()
  for k in $SHOTS; do
    sp=$D/split; [ "$k" = 5 ] && sp=$D/split5
    "$PM" nbs/experiments/uho.ipynb "$OUT/uho_${init}_$k.ipynb" -k python3 --no-progress-bar -p data "$D/data" -p split "$sp" \
      -p checkpoint "$init" -p shots "$k" -p n_tasks "$NT" -p n_calls "$NC" -p queries 4 -p image_size 224 -p device "$DEV" \
      -p out_dir "$OUT/uho_${init}_$k" > "$OUT/uho_${init}_$k.log" 2>&1
    uhos+=("$OUT/uho_${init}_$k/results.json")
    echo "uho $init $k: $(tail -c 300 "$OUT/uho_${init}_$k/results.json" | tr -d '\n' | head -c 200)"
  done
  DEVSET=$D "$PY" tools/photo_candidates.py score "$init" "${init}+uho" "$OUT" "$DEV" "${uhos[@]}"
done
