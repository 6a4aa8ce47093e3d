"The benchmark at a toy size: the papermill notebook (every section, the PNG, the table) and `python -m mliis_nb.bench` without Jupyter."

import json, subprocess, sys
from pathlib import Path
import pytest
from conftest import run_nb, notebook_error

REPO = Path(__file__).resolve().parents[1]
NB = REPO / 'nbs' / 'experiments' / 'benchmark.ipynb'
TOY = dict(
    image_size=32,
    device='cpu',
    models=['efficientlab-3'],
    repeats=1,
    warmup=0,
    meta_batch=2,
    inner_steps=2,
    inner_batch=2,
    encoder='efficientnet_b0',
    eval_splits=1,
    synthetic_classes=8,
)


def test_benchmark_notebook_writes_every_section(tmp_path):
    out = tmp_path / 'bench'
    run_nb(NB, tmp_path / 'bench.ipynb', out_dir=str(out), **TOY)
    res = json.loads((out / 'results.json').read_text())
    assert set(res) >= {'settings', 'rows', 'ceiling', 'levers', 'evaluate', 'loader', 'malloc', 'memory', 'goal'}
    rows = {(r['row'], r['algorithm']): r for r in res['rows']}
    assert set(rows) == {
        ('supervised', 'supervised'),
        ('supervised_cl', 'supervised'),
        ('naive', 'fomaml_star'),
        ('naive_trunc', 'fomaml_star'),
        ('ours', 'fomaml_star'),
        ('ours_cl', 'fomaml_star'),
        ('ours', 'reptile'),
        ('ours_cl', 'reptile'),
    }
    _check_rows(res)
    assert (
        rows[('naive_trunc', 'fomaml_star')]['speedup_vs_naive'] is not None
        and rows[('ours', 'reptile')]['speedup_vs_naive'] is None
    )
    assert set(res['malloc']) == {'default', 'env', 'mallopt'}  # the allocator children ran
    assert (
        res['malloc']['env']['malloc_env']['MALLOC_MMAP_THRESHOLD_']
        and not res['malloc']['default']['malloc_env']['MALLOC_MMAP_THRESHOLD_']
    )
    ev = res['evaluate']['efficientlab-3']['ours']
    assert ev['task_splits'] == 1 and 0 < ev['reset_fraction'] < 1
    assert res['loader']['consumed_examples_per_s'] > 0 and res['loader']['decode_examples_per_s'] > 0
    assert res['memory']['efficientlab-3']['peak_mb'] > 0 and res['goal']['target'] == 1.5
    assert res['settings']['image_size'] == 32 and res['settings']['repeats'] == 1
    assert (out / 'benchmark.png').stat().st_size > 0
    _check_table(res, (out / 'table.txt').read_text())


def test_module_entry_without_jupyter(tmp_path):
    "`python -m mliis_nb.bench` runs with papermill, fastai and scikit-optimize unimportable, and imports none of them."
    code = (
        "import sys, runpy; sys.modules.update({m: None for m in ('papermill', 'fastai', 'skopt', 'IPython', 'nbformat')});"
        f"sys.argv = ['bench'] + {_cli(tmp_path)!r}; runpy.run_module('mliis_nb.bench', run_name='__main__')"
    )
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / 'cli' / 'results.json').read_text())
    assert {r['row'] for r in res['rows']} == {
        'supervised',
        'supervised_cl',
        'ours',
        'ours_cl',
    }  # no naive rows: not in --sections
    assert all(r['speedup_vs_naive'] is None for r in res['rows'])
    assert res['malloc'] == {'skipped': 'not in sections'} and (tmp_path / 'cli' / 'benchmark.png').is_file()
    _check_rows(res)
    _check_table(res, r.stdout)
    out = tmp_path / 'cli'
    assert r.stdout.splitlines()[-1] == f"results in {out}/results.json and {out}/benchmark.png", r.stdout[-500:]
    none = tmp_path / 'none.json'
    s = subprocess.run(
        [sys.executable, '-m', 'mliis_nb.bench', '--summary', str(out / 'results.json'), str(none)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert s.returncode == 0, s.stderr[-3000:]
    lines = s.stdout.splitlines()
    assert lines[0] == f"(no {none}: that part did not finish)", s.stdout[
        :500
    ]  # the missing file named, then the table of the other
    assert lines[1].split() == TABLE_HEAD, s.stdout[:500]
    _check_table(res, s.stdout)


def test_short_run_option(tmp_path):
    "`--short-run N` meta-trains N meta-steps with meta_train and meta-tests (the GPU check's second step); it once crashed on the option's own name."
    out = tmp_path / 'short'
    cmd = [
        sys.executable,
        '-m',
        'mliis_nb.bench',
        '--no-bench',
        '--short-run',
        '1',
        '--image-size',
        '32',
        '--device',
        'cpu',
    ]
    cmd += ['--encoder', 'efficientnet_b0', '--short-eval-splits', '2', '--short-synthetic-classes', '10']
    cmd += ['--meta-batch', '1', '--inner-steps', '2', '--inner-batch', '2', '--out-dir', str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run = json.loads((out / 'results.json').read_text())['short_run']['fp32']
    assert (run['steps'], run['eval_task_splits'], run['image_size']) == (1, 2, 32) and 0 <= run['miou'] <= 1
    assert r.stdout.startswith('short meta_train (fp32, FOMAML*, 1 meta-steps, 32 px'), r.stdout[:500]


TABLE_HEAD = ['model', 'algorithm', 'row', 'img/s', 'img/cpu-s', 'x', 'ceil', 'x', 'naive', 'h/50k']


def _rate(r, basis):
    return r['images_per_cpu_s'] if basis == 'cpu' else r['images_per_s']


def _check_rows(res):
    "The derived columns recomputed from the reported rates: on the CPU the ratios are on CPU time (`basis` 'cpu')."
    basis = res['settings']['basis']
    assert basis == 'cpu' and res['settings']['device'] == 'cpu'
    for m in {r['model'] for r in res['rows']}:
        rows = [r for r in res['rows'] if r['model'] == m]
        assert all(r['basis'] == basis and r['rate'] == _rate(r, basis) and r['images_per_s'] > 0 for r in rows)
        ceiling = max(_rate(r, basis) for r in rows if r['algorithm'] == 'supervised')  # no bf16 rows on the CPU
        assert res['ceiling'][m] == {'fp32': pytest.approx(ceiling, rel=1e-12)}
        naive = {r['algorithm']: _rate(r, basis) for r in rows if r['row'] == 'naive'}
        for r in rows:
            what = (m, r['row'], r['algorithm'])
            assert r['ratio_to_ceiling'] == pytest.approx(_rate(r, basis) / ceiling, rel=1e-12), what
            if r['algorithm'] in naive:
                assert r['speedup_vs_naive'] == pytest.approx(_rate(r, basis) / naive[r['algorithm']], rel=1e-12), what
            else:
                assert r['speedup_vs_naive'] is None, what
            if r['algorithm'] == 'supervised':
                assert r['projected_hours'] is None, what
            else:  # the paper's 50,000 meta-steps of `images` (one timed meta-step's images) at the wall-clock rate
                assert r['projected_hours'] == pytest.approx(
                    50_000 * r['images'][0] / r['images_per_s'] / 3600, rel=1e-12
                ), what


def _check_table(res, text):
    "`text` holds the table of `res`: its header, then one line per row with that row's numbers (x ceil and x naive as recomputed)."
    lines = text.splitlines()
    head = [i for i, l in enumerate(lines) if l.split() == TABLE_HEAD]
    assert len(head) == 1, text[:1000]
    body = lines[head[0] + 2 : head[0] + 2 + len(res['rows'])]
    assert set(lines[head[0] + 1]) == {'-'}, text[:1000]
    basis = res['settings']['basis']
    for r, line in zip(res['rows'], body):
        ceiling = res['ceiling'][r['model']]['fp32']
        naive = r['speedup_vs_naive']
        assert line.split()[:2] == [r['model'], r['algorithm']] and r['label'][:58] in line, line
        assert line.split()[-5:] == [
            f"{r['images_per_s']:.1f}",
            f"{r['images_per_cpu_s']:.1f}",
            f"{_rate(r, basis) / ceiling:.2f}",
            '-' if naive is None else f"{naive:.2f}",
            '-' if r['projected_hours'] is None else f"{r['projected_hours']:.1f}",
        ], line
    after = lines[head[0] + 2 + len(res['rows'])]
    assert (
        after.startswith(f"({res['settings']['image_size']} px, cpu ")
        and 'x ceil and x naive on CPU time (img/cpu-s)' in after
    ), after


def _cli(tmp_path):
    return [
        '--device',
        'cpu',
        '--image-size',
        '32',
        '--models',
        'efficientlab-3',
        '--algorithms',
        'fomaml_star',
        '--repeats',
        '1',
        '--warmup',
        '0',
        '--meta-batch',
        '1',
        '--inner-steps',
        '2',
        '--inner-batch',
        '2',
        '--encoder',
        'efficientnet_b0',
        '--synthetic-classes',
        '8',
        '--sections',
        '--out-dir',
        str(tmp_path / 'cli'),
    ]


def test_bad_parameter_stops_before_any_work(tmp_path):
    e, _ = notebook_error(NB.name, out_dir=str(tmp_path / 'out'), models=['efficientlab-9'])
    assert 'models' in str(e) and isinstance(e, ValueError)
    assert not (tmp_path / 'out').exists()
