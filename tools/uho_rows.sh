#!/usr/bin/env bash
# The paper's "+UHO" rows on the embedded benchmark (issue 8): UHO at 1 and 5 shots for the shipped
# meta-learned checkpoint and a joint-trained checkpoint, then each meta-tested on the test classes with the
# untuned U (the demo's: lr 0.02, 5 steps) and with its UHO omega. Resumable: a finished stage (its
# results.json exists) is skipped and a UHO search continues from its trials.csv.
# usage: tools/uho_rows.sh JOINT_CHECKPOINT [OUT=runs/uho_rows]
set -euo pipefail
cd "$(dirname "$0")/.."
JOINT=${1:?a joint-trained checkpoint (e.g. runs/demo-issue7/joint)}
OUT=${2:-runs/uho_rows}
META=checkpoints/demo_meta.safetensors
PM=".venv/bin/papermill -k python3 --no-progress-bar --log-output"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
start=$(date +%s)
for init in meta joint; do
  ck=$([ $init = meta ] && echo $META || echo $JOINT)
  for shots in 5 1; do
    u=$OUT/uho_${init}_${shots}
    # the 5-shot search of the meta-learned checkpoint was run before with these settings (figures/uho_run.json)
    if [ $init = meta ] && [ $shots = 5 ] && [ -f runs/uho_real/uho_meta/results.json ] && [ ! -e $u ]; then cp -r runs/uho_real/uho_meta $u; fi
    [ -f $u/results.json ] || $PM nbs/experiments/uho.ipynb $u.ipynb -p checkpoint "$ck" -p label "$init" \
        -p out_dir $u -p shots $shots -p n_tasks 12 -p n_calls 8 -p max_steps 20 -p seed 0
    for tuned in 0 1; do
      if [ $tuned = 1 ]; then e=$OUT/ev_${init}_${shots}_uho; extra=(-p omega $u/results.json)
      else e=$OUT/ev_${init}_${shots}; extra=(-p lr 0.02 -p steps 5); fi
      [ -f $e/results.json ] || $PM nbs/experiments/evaluate.ipynb $e.ipynb -p checkpoint "$ck" -p label "$init" \
          "${extra[@]}" -p out_dir $e -p shots $shots -p max_classes 32 -p splits_per_class 1 -p seed 0
    done
  done
done
echo "$(( $(date +%s) - start )) s" > $OUT/total_seconds.txt

# The tables and figures from the finished stages: figures/uho_plus_rows.md (the four "+UHO" rows, paired
# differences), the Table 4 analogue for the four searches, and Figure 3 of each search.
.venv/bin/python - "$OUT" <<'PY'
import json, shutil, sys
from pathlib import Path
from mliis_nb.uho import plus_uho_table, uho_tables
out = Path(sys.argv[1]); figs = Path('figures')
rows = []
for shots in (1, 5):
    pairs = {f'{"meta-learned (shipped FOMAML*)" if i == "meta" else "joint-trained (demo)"}, {shots}-shot':
             (out/f'ev_{i}_{shots}'/'results.json', out/f'ev_{i}_{shots}_uho'/'results.json') for i in ('meta', 'joint')}
    rows.append(f'**{shots}-shot**\n\n' + plus_uho_table(pairs))
(figs/'uho_plus_rows.md').write_text('\n\n'.join(rows) + '\n')
uho_tables([out/f'uho_{i}_{k}'/'results.json' for i in ('meta', 'joint') for k in (1, 5)], out)
shutil.copy(out/'uho_tables.md', figs/'uho_tables.md'); shutil.copy(out/'uho_tables.csv', figs/'uho_tables.csv')
for i in ('meta', 'joint'):
    for k in (1, 5): shutil.copy(out/f'uho_{i}_{k}'/'uho_fig3.png', figs/f'uho_fig3_{i}_{k}shot.png')
print((figs/'uho_plus_rows.md').read_text())
PY
