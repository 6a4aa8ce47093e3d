"The benchmark at a toy size: the papermill notebook (every section, the PNG, the table) and `python -m mliis_nb.bench` without Jupyter."
import json, subprocess, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
NB = REPO/'nbs'/'experiments'/'benchmark.ipynb'
TOY = dict(image_size=32, device='cpu', models=['efficientlab-3'], repeats=1, warmup=0, meta_batch=2, inner_steps=2, inner_batch=2,
           encoder='efficientnet_b0', eval_splits=1, synthetic_classes=8)


def test_benchmark_notebook_writes_every_section(tmp_path):
    import papermill as pm
    out = tmp_path/'bench'
    pm.execute_notebook(str(NB), str(tmp_path/'bench.ipynb'), parameters=dict(out_dir=str(out), **TOY), kernel_name='python3',
                        progress_bar=False)
    res = json.loads((out/'results.json').read_text())
    assert set(res) >= {'settings', 'rows', 'ceiling', 'levers', 'evaluate', 'loader', 'malloc', 'memory', 'goal'}
    rows = {(r['row'], r['algorithm']): r for r in res['rows']}
    assert set(rows) == {('supervised', 'supervised'), ('supervised_cl', 'supervised'), ('naive', 'fomaml_star'),
                         ('naive_trunc', 'fomaml_star'), ('ours', 'fomaml_star'), ('ours_cl', 'fomaml_star'),
                         ('ours', 'reptile'), ('ours_cl', 'reptile')}
    assert all(r['images_per_s'] > 0 and r['ratio_to_ceiling'] > 0 for r in res['rows'])
    assert max(r['ratio_to_ceiling'] for r in res['rows'] if r['algorithm'] == 'supervised') == 1.0
    assert rows[('naive', 'fomaml_star')]['speedup_vs_naive'] == 1.0 and rows[('ours', 'fomaml_star')]['projected_hours'] > 0
    assert set(res['malloc']) == {'default', 'env', 'mallopt'}                     # the allocator children ran
    assert res['malloc']['env']['malloc_env']['MALLOC_MMAP_THRESHOLD_'] and not res['malloc']['default']['malloc_env']['MALLOC_MMAP_THRESHOLD_']
    ev = res['evaluate']['efficientlab-3']['ours']
    assert ev['task_splits'] == 1 and 0 < ev['reset_fraction'] < 1
    assert res['loader']['consumed_examples_per_s'] > 0 and res['loader']['decode_examples_per_s'] > 0
    assert res['memory']['efficientlab-3']['peak_mb'] > 0 and res['goal']['target'] == 1.5
    assert res['settings']['image_size'] == 32 and res['settings']['repeats'] == 1
    assert (out/'benchmark.png').stat().st_size > 0 and 'x naive' in (out/'table.txt').read_text()


def test_module_entry_without_jupyter(tmp_path):
    "`python -m mliis_nb.bench` runs with papermill, fastai and scikit-optimize unimportable, and imports none of them."
    code = ("import sys, runpy; sys.modules.update({m: None for m in ('papermill', 'fastai', 'skopt', 'IPython', 'nbformat')});"
            f"sys.argv = ['bench'] + {_cli(tmp_path)!r}; runpy.run_module('mliis_nb.bench', run_name='__main__')")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'library meta_step' in r.stdout and 'x naive' in r.stdout
    res = json.loads((tmp_path/'cli'/'results.json').read_text())
    assert {r['row'] for r in res['rows']} == {'supervised', 'supervised_cl', 'ours', 'ours_cl'}  # no naive rows: not in --sections
    assert res['malloc'] == {'skipped': 'not in sections'} and (tmp_path/'cli'/'benchmark.png').is_file()
    s = subprocess.run([sys.executable, '-m', 'mliis_nb.bench', '--summary', str(tmp_path/'cli'/'results.json'), str(tmp_path/'none.json')],
                       capture_output=True, text=True, timeout=120)
    assert s.returncode == 0 and 'library meta_step' in s.stdout and 'no ' in s.stdout


def _cli(tmp_path):
    return ['--device', 'cpu', '--image-size', '32', '--models', 'efficientlab-3', '--algorithms', 'fomaml_star', '--repeats', '1',
            '--warmup', '0', '--meta-batch', '1', '--inner-steps', '2', '--inner-batch', '2', '--encoder', 'efficientnet_b0',
            '--synthetic-classes', '8', '--sections', '--out-dir', str(tmp_path/'cli')]


def test_bad_parameter_stops_before_any_work(tmp_path):
    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(NB), str(tmp_path/'x.ipynb'), parameters=dict(out_dir=str(tmp_path/'out'), models=['efficientlab-9']),
                            kernel_name='python3', progress_bar=False)
    assert 'models' in str(e.value) and 'ValueError' in str(e.value)
    assert not (tmp_path/'out').exists()
