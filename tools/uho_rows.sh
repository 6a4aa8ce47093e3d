#!/usr/bin/env bash
# The paper's "+UHO" rows and Tables 4-5 analogues on the embedded benchmark (issues 7-8): UHO (12 validation
# tasks x 8 trials) at 1 and 5 shots for the shipped meta-learned checkpoint and a joint-trained checkpoint, a
# 5-shot search for the ImageNet encoder, and the extended space (lr, dropout, augmentation rate, batch; horizon
# 30) for the meta-learned checkpoint; each then meta-tested on 32 test classes with the untuned U and with its
# UHO omega, paired. Resumable: a finished stage (its results.json exists) is skipped and a UHO search continues
# from its trials.csv. Writes figures/uho_plus_rows.md, uho_tables.{md,csv}, uho_fig3_*.png,
# uho_objective_meta_5shot_extended.png and uho_run.json (keeping its `previous_run` note).
# usage: tools/uho_rows.sh JOINT_CHECKPOINT [OUT=runs/uho_rows]      (about 30 min with OMP_NUM_THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
JOINT=${1:?a joint-trained checkpoint (e.g. runs/demo-issue7/joint)}
OUT=${2:-runs/uho_rows}
META=checkpoints/demo_meta.safetensors
PM=".venv/bin/papermill -k python3 --no-progress-bar --log-output"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$OUT"
search() {  # search NAME CHECKPOINT LABEL SHOTS HORIZON SPACE
  [ -f "$OUT/$1/results.json" ] || $PM nbs/experiments/uho.ipynb "$OUT/$1.ipynb" -p checkpoint "$2" -p label "$3" \
      -p out_dir "$OUT/$1" -p shots "$4" -p n_tasks 12 -p n_calls 8 -p max_steps "$5" -p space "$6" -p seed 0
}
evaluate() {  # evaluate NAME CHECKPOINT LABEL SHOTS [papermill -p options for U]
  local name=$1 ck=$2 label=$3 shots=$4; shift 4
  [ -f "$OUT/$name/results.json" ] || $PM nbs/experiments/evaluate.ipynb "$OUT/$name.ipynb" -p checkpoint "$ck" -p label "$label" \
      "$@" -p out_dir "$OUT/$name" -p shots "$shots" -p max_classes 32 -p splits_per_class 1 -p seed 0
}
for init in meta joint; do
  ck=$([ $init = meta ] && echo $META || echo "$JOINT")
  for shots in 5 1; do
    search uho_${init}_${shots} "$ck" $init $shots 20 lr
    evaluate ev_${init}_${shots} "$ck" $init $shots -p lr 0.02 -p steps 5
    evaluate ev_${init}_${shots}_uho "$ck" $init $shots -p omega "$OUT/uho_${init}_${shots}/results.json"
  done
done
search uho_meta_5_ext $META meta 5 30 extended
evaluate ev_meta_5_ext $META meta 5 -p omega "$OUT/uho_meta_5_ext/results.json"
search uho_imagenet_5 imagenet "ImageNet encoder" 5 20 lr
evaluate ev_imagenet_5 imagenet "ImageNet encoder" 5                      # the evaluate notebook's U: lr 0.005, 5 steps
evaluate ev_imagenet_5_uho imagenet "ImageNet encoder + UHO" 5 -p omega "$OUT/uho_imagenet_5/results.json"

.venv/bin/python - "$OUT" "$JOINT" <<'PY'
import json, os, shutil, sys
from pathlib import Path
from mliis_nb.io import write_json
from mliis_nb.uho_report import plus_uho_table, uho_tables
O, joint, F = Path(sys.argv[1]), sys.argv[2], Path('figures')
J = lambda p: json.loads(Path(p).read_text())
ev = lambda n: O/n/'results.json'
lab = {'meta': 'meta-learned (shipped FOMAML*)', 'joint': 'joint-trained (demo)'}
parts = [f'**{k}-shot**\n\n' + plus_uho_table({f'{lab[i]}, {k}-shot': (ev(f'ev_{i}_{k}'), ev(f'ev_{i}_{k}_uho')) for i in ('meta', 'joint')})
         for k in (1, 5)]
parts.append('**5-shot, extended space (lr, dropout, augmentation rate, batch; horizon 30)**\n\n'
             + plus_uho_table({f"{lab['meta']}, 5-shot, extended space": (ev('ev_meta_5'), ev('ev_meta_5_ext'))}))
parts.append('**5-shot, ImageNet encoder (evaluate defaults: lr 0.005, 5 steps)**\n\n'
             + plus_uho_table({'ImageNet encoder, 5-shot': (ev('ev_imagenet_5'), ev('ev_imagenet_5_uho'))}))
(F/'uho_plus_rows.md').write_text('\n\n'.join(parts) + '\n')
searches = ['uho_meta_1', 'uho_meta_5', 'uho_joint_1', 'uho_joint_5', 'uho_imagenet_5', 'uho_meta_5_ext']
uho_tables([O/s/'results.json' for s in searches], O)
for f in ('uho_tables.md', 'uho_tables.csv'): shutil.copy(O/f, F/f)
for i in ('meta', 'joint'):
    for k in (1, 5): shutil.copy(O/f'uho_{i}_{k}'/'uho_fig3.png', F/f'uho_fig3_{i}_{k}shot.png')
shutil.copy(O/'uho_imagenet_5'/'uho_fig3.png', F/'uho_fig3_imagenet.png')
shutil.copy(O/'uho_meta_5_ext'/'uho_fig3.png', F/'uho_fig3_meta_5shot_extended.png')
shutil.copy(O/'uho_meta_5_ext'/'objective.png', F/'uho_objective_meta_5shot_extended.png')
def search(s):
    r = J(O/s/'results.json'); ratio = [t['seconds'] / t['u_seconds'] for t in r['trials'] if t['u_seconds'] > 0]
    return dict(best=r['best'], val_miou=r['miou'], val_ci95=r['ci95'], n_tasks=r['n_tasks'], n_calls=r['n_calls'], max_steps=r['max_steps'],
                space=list(r['space']), search_seconds=r['search_seconds'], trial_time_over_u_time=dict(mean=sum(ratio) / len(ratio), max=max(ratio)))
def test(e):
    r = J(ev(e)); return dict(miou=r['miou'], ci95=r['ci95'], n=r['n'], omega=r['omega'], seconds=r['seconds'])
evals = [f'ev_{i}_{k}{u}' for i in ('meta', 'joint') for k in (1, 5) for u in ('', '_uho')] + ['ev_meta_5_ext', 'ev_imagenet_5', 'ev_imagenet_5_uho']
old = J(F/'uho_run.json') if (F/'uho_run.json').is_file() else {}
run = dict(
    what=("UHO on the embedded benchmark at 64 px, 12 validation tasks x 8 trials per search: learning-rate searches (Table 4 analogue) at 1 "
          f"and 5 shots for the shipped meta-learned checkpoint and the joint-trained checkpoint {joint}, a 5-shot search for the ImageNet "
          "encoder, and the extended space (Table 5 analogue) for the meta-learned checkpoint; each meta-tested on 32 test classes x 1 split "
          "with the untuned and the tuned U, paired"),
    checkpoint='checkpoints/demo_meta.safetensors (FOMAML*, 700 meta-steps, made by tools/make_shipped_checkpoint.py)',
    command=f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} tools/uho_rows.sh {joint} {O}",
    parameters=dict(n_tasks=12, n_calls=8, max_steps=20, max_steps_extended=30, image_size=64, seed=0, queries=5, patience=50,
                    test_classes=32, splits_per_class=1, untuned_u=dict(lr=0.02, steps=5)),
    searches={s: search(s) for s in searches}, tests={e: test(e) for e in evals},
    figures=['figures/uho_plus_rows.md', 'figures/uho_tables.md', 'figures/uho_tables.csv', 'figures/uho_fig3_{meta,joint}_{1,5}shot.png',
             'figures/uho_fig3_imagenet.png', 'figures/uho_fig3_meta_5shot_extended.png',
             'figures/uho_objective_meta_5shot_extended.png'])
run['seconds_in_searches_and_evaluations'] = round(sum(v['search_seconds'] for v in run['searches'].values())
                                                 + sum(v['seconds'] for v in run['tests'].values()), 1)
run.update({k: old[k] for k in ('note', 'previous_run') if old.get(k)})  # what a person wrote about the runs
write_json(F/'uho_run.json', run)
print((F/'uho_plus_rows.md').read_text())
PY
