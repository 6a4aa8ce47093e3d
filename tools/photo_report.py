"""The real-photo development set table (issue: the shipped initialisation must beat ImageNet on real photographs):
reads the score records of tools/photo_candidates.py (results/photo_devset/gpu_runs.jsonl), pairs every initialisation
with ImageNet over identical task-splits (the same seed draws the same splits): with the default U, and, where the
records hold it, with ImageNet's own UHO omega (label "imagenet+uho"); adds the all-foreground predictor on those splits
(`mliis_nb.evaluate.all_foreground_iou`), and writes STEM.md and STEM_summary.json beside the records (STEM "table": table.md and summary.json).
Usage: python tools/photo_report.py [RECORDS.jsonl] [DEVSET] [STEM]"""

import json, sys
from pathlib import Path
import numpy as np
from mliis_nb.losses import mean_ci95
from mliis_nb.synthetic import resolve_data, open_data
from mliis_nb.evaluate import all_foreground_iou

rec_path = Path(sys.argv[1] if len(sys.argv) > 1 else 'results/photo_devset/gpu_runs.jsonl')
devset = Path(sys.argv[2] if len(sys.argv) > 2 else '.devset')
stem = sys.argv[3] if len(sys.argv) > 3 else 'table'
recs = [json.loads(l) for l in rec_path.read_text().splitlines() if l.strip()]
scores = {}
for r in recs:
    if r['kind'] == 'score':
        scores[(r['label'], r['shots'], r['bn'])] = r  # a later run of a label replaces an earlier one


def allfg(shots):
    "IoU of predicting every pixel as foreground, per task-split of the ImageNet record (the same per-image IoU as U's)."
    split = 'split' if shots == 1 else 'split5'
    root, splits = resolve_data(str(devset / 'data'), str(devset / split), need=('test',))
    ds = open_data(root, classes=splits['test'], size=224)
    return all_foreground_iou(ds, scores[('imagenet', shots, 'running')]['per_task'])


def paired(pt, ref):
    "Mean paired difference and its 95% CI over identical task-splits (asserted)."
    assert [(t['class'], t['support'], t['query']) for t in pt] == [(t['class'], t['support'], t['query']) for t in ref]
    return mean_ci95([a['miou'] - b['miou'] for a, b in zip(pt, ref)])


rows, summary = [], []
for shots in (1, 5):
    base = scores[('imagenet', shots, 'running')]['per_task']
    fg = allfg(shots) if devset.is_dir() else None
    if fg:
        m, h = mean_ci95(fg)
        rows.append((shots, 'all foreground (trivial)', '', '', f"{100 * m:.1f} ± {100 * h:.1f}", '', ''))
    for (lab, k, bn), r in sorted(scores.items(), key=lambda x: (x[0][1], -x[1]['miou'])):
        if k != shots:
            continue
        pt = r['per_task']
        d, h = paired(pt, base)
        tuned = scores.get(('imagenet+uho', shots, 'running'))
        du, hu = paired(pt, tuned['per_task']) if tuned else (None, None)
        om = r.get('omega') or dict(lr=0.005, steps=5)  # records before the omega field: the default U
        u = (
            'UHO: ' if r.get('omega_source', 'default U') != 'default U' else 'default: '
        ) + f"lr {om['lr']:.3g}, {om['steps']} steps"
        rows.append(
            (
                shots,
                lab,
                bn,
                u,
                f"{100 * r['miou']:.1f} ± {100 * r['ci95']:.1f}",
                f"{100 * d:+.1f} ± {100 * h:.1f}",
                '' if du is None else f"{100 * du:+.1f} ± {100 * hu:.1f}",
            )
        )
        summary.append(
            dict(
                shots=shots,
                label=lab,
                bn=bn,
                omega=om,
                omega_source=r.get('omega_source', 'default U'),
                miou=r['miou'],
                ci95=r['ci95'],
                n=r['n'],
                vs_imagenet=d,
                vs_imagenet_ci95=h,
                vs_imagenet_uho=du,
                vs_imagenet_uho_ci95=hu,
                device=r.get('device'),
            )
        )
md = [
    '| shots | initialisation | query BN | U | IoU (%) | paired difference to ImageNet (default U, running BN) '
    '| paired difference to ImageNet (its UHO omega, running BN) |',
    '|---|---|---|---|---|---|---|',
]
md += ['| ' + ' | '.join(map(str, r)) + ' |' for r in rows]
out = rec_path.parent
(out / f'{stem}.md').write_text('\n'.join(md) + '\n')
(out / ('summary.json' if stem == 'table' else f'{stem}_summary.json')).write_text(json.dumps(summary, indent=1))
print('\n'.join(md))
