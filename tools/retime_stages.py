"""Re-time stages of a reproduction run on free cores, without touching its stage cache.

    python tools/retime_stages.py runs/paper_cpu meta_reptile meta_fomaml meta_noreg

A stage's recorded time is only as good as the machine was quiet: a stage that shared the cores with other
jobs, or was continued after a kill (its killed part is not counted), has a time that says little. This reruns
each named stage's notebook with the parameters in its `stage.json` into a temporary folder, timing it, and
appends to `<run>/retimed.json`: the recorded and the measured seconds, and whether the rerun reproduced the
stage's result (`final_val_miou` for meta-training, `miou` otherwise). Run it with nothing else on the cores.
"""

import json, os, sys, tempfile, time
from pathlib import Path
from mliis_nb.io import write_json
from mliis_nb.reproduce import EXPERIMENTS, stage_state, _papermill


def result_of(d: Path):
    r = json.loads((d / 'results.json').read_text())
    for k in ('final_val_miou', 'miou'):
        if k in r:
            return k, r[k]
    return None, None


def main(run: str, *names: str):
    root = Path(run)
    if not names:
        sys.exit("name the stages to re-time, e.g. meta_reptile meta_fomaml")
    out_file = root / 'retimed.json'
    done = json.loads(out_file.read_text()) if out_file.is_file() else {}
    for name in names:
        st = stage_state(root / name)
        if not st:
            sys.exit(f"{root / name}: no stage record (expected a finished stage of {root})")
        if st.get('status') != 'done':
            sys.exit(f"{root / name}: status {st.get('status')!r}, expected 'done'")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / name
            t0 = time.time()
            _papermill(EXPERIMENTS / st['notebook'], Path(tmp) / 'run.ipynb', {**st['parameters'], 'out_dir': str(out)})
            secs = round(time.time() - t0, 1)
            key, new = result_of(out)
        _, old = result_of(root / name)
        done[name] = dict(
            recorded_seconds=st.get('seconds'),
            recorded_continued=bool(st.get('continued')),
            seconds=secs,
            result_key=key,
            recorded_result=old,
            result=new,
            same_result=old == new,
            threads=os.environ.get('OMP_NUM_THREADS', ''),
            when=time.strftime('%Y-%m-%d %H:%M:%S'),
        )
        write_json(out_file, done)  # atomic: a kill keeps the earlier stages
        print(f"[{name}] recorded {st.get('seconds')} s, re-timed {secs} s; {key} {old} -> {new}", flush=True)


if __name__ == '__main__':
    main(*sys.argv[1:])
