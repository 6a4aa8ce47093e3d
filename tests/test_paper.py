"The reproduction notebook end to end at the smoke budget (a subset of rows, with UHO, FP-k and weights), the stage cache on a rerun, and its parameter checks."

import json, subprocess, sys
from pathlib import Path
import pytest
from conftest import run_nb, notebook_error

REPO = Path(__file__).resolve().parents[1]
NB = REPO / 'nbs' / 'experiments' / 'paper.ipynb'


def run(out_nb, **params):
    return run_nb(NB, out_nb, **params)


def test_paper_notebook_smoke_and_stage_cache(tmp_path):
    out = tmp_path / 'paper'
    run(tmp_path / 'p1.ipynb', budget='smoke', out_dir=str(out), rows=['fomaml_star+uho'])
    r = json.loads((out / 'results.json').read_text())
    assert set(r['table2']) == {'fomaml_star+uho@1', 'fomaml_star+uho@5'}
    assert [f['n'] for f in r['findings']] == [1, 2, 3, 4, 5, 6]
    by_n = {f['n']: f for f in r['findings']}
    assert by_n[4]['verdict'] in ('holds', 'does not hold', 'mixed', 'inconclusive') and by_n[5]['verdict'] in (
        'holds',
        'does not hold',
        'inconclusive',
    )
    assert all(
        q['verdict'] in ('holds', 'does not hold', 'inconclusive', 'not tested')
        for f in r['findings']
        for q in f['parts']
    )
    assert len(by_n[5]['parts']) == 1 and by_n[5]['parts'][0]['verdict'] == by_n[5]['verdict']
    assert by_n[1]['verdict'] == 'not tested'  # its rows were not asked for
    stages = {d.name for d in out.iterdir() if (d / 'stage.json').is_file()}
    assert stages == {
        'meta_fomaml_star',
        'joint',
        'uho_fomaml_star_1',
        'uho_fomaml_star_5',
        'eval_fomaml_star_1_uho',
        'eval_fomaml_star_5_uho',
        'fpk',
        'weights',
    }
    fpk_params = json.loads((out / 'fpk' / 'stage.json').read_text())['parameters']
    assert fpk_params['uho'].count('meta:') == 2  # FP-k's k < 10 points use FOMAML*'s UHO omegas
    md = (out / 'tables.md').read_text()
    assert '81.36 ± 0.80' in md and '76.45 ± 1.16' in md and 'Table 4 analogue' in md  # the paper's numbers beside ours
    assert all((out / 'figures' / f'fig{i}.png').stat().st_size > 0 for i in range(2, 8))
    assert r['figure_rerun_max_diff'] < 1e-6  # Figures 2 and 5 show exactly what the evaluation scored
    # a stage re-timed on free cores (tools/retime_stages.py) reproduces its result (in a folder of its own)
    before = {s: (out / s / 'stage.json').read_text() for s in stages}
    subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'retime_stages.py'), str(out), 'eval_fomaml_star_5_uho'],
        check=True,
        capture_output=True,
    )
    rt = json.loads((out / 'retimed.json').read_text())['eval_fomaml_star_5_uho']
    assert rt['same_result'] and rt['result_key'] == 'miou' and isinstance(rt['seconds'], float) and rt['seconds'] >= 0
    # then a rerun skips every stage (nothing recomputed, the stage records untouched) and its time summary gives both totals
    nb = run(tmp_path / 'p2.ipynb', budget='smoke', out_dir=str(out), rows=['fomaml_star+uho'])
    log = ''.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []))
    assert log.count('skipped') == len(stages) and 'running' not in log
    assert {s: (out / s / 'stage.json').read_text() for s in stages} == before
    r = json.loads((out / 'results.json').read_text())
    assert r['retimed_seconds'] == {'eval_fomaml_star_5_uho': rt['seconds']} and r['total_minutes_retimed'] >= 0
    assert 're-timed on free cores' in (out / 'tables.md').read_text()


def test_paper_parameters_checked(tmp_path):
    e, _ = notebook_error(
        NB.name, first_cells=6, budget='huge', rows=['fomaml_star', 'nope'], out_dir=str(tmp_path / 'x'), fpk='yes'
    )
    assert "budget='huge'" in str(e) and 'rows=' in str(e) and "fpk='yes'" in str(e) and not (tmp_path / 'x').exists()
    e, _ = notebook_error(NB.name, first_cells=6, budget='paper', out_dir=str(tmp_path / 'y'))
    assert 'FSS-1000 folder' in str(e)


def _cell(nb, start):
    "The source of the notebook's code cell that starts with `start`."
    return next(
        ''.join(c['source'])
        for c in json.loads(nb.read_text())['cells']
        if c['cell_type'] == 'code' and ''.join(c['source']).startswith(start)
    )


def _findings(res, fpk_dir=None, wd_dir=None):
    "Run the notebook's imports and its findings cell, in process, on made-up evaluation results (no stage runs)."
    ns = {}
    exec(_cell(NB, 'import json, shutil, time'), ns)
    ns.update(res=res, fpk_dir=fpk_dir, wd_dir=wd_dir)
    exec(_cell(NB, 'findings = []'), ns)
    return {f['n']: f for f in ns['findings']}, ns['tf']


def _evals(diffs, base=0.5):
    "Evaluate results dicts on the same 8 task-splits: per split, IoU `base + diffs[row]` plus noise (rotated per row, so paired differences vary)."
    noise = [0.02, -0.01, 0.03, -0.02, 0.0, 0.01, -0.03, 0.02]
    out = {}
    for j, (key, d) in enumerate(diffs.items()):
        ious = [base + d + noise[(i + j) % len(noise)] for i in range(len(noise))]
        out[key] = dict(
            miou=sum(ious) / len(ious),
            ci95=0.05,
            per_task=[{'class': f'c{i}', 'support': [0], 'query': [1], 'miou': m} for i, m in enumerate(ious)],
        )
    return out


def test_paper_findings_verdicts_not_upgraded(tmp_path):
    "Finding 6 with an inconclusive '6 & 3 >= 3' and the other two holding is mixed, not holds; each finding keeps its parts."
    res = _evals(
        {
            ('fomaml_star_63', 5): 0.20,
            ('fomaml_star', 5): 0.20,
            ('noresidual', 5): 0.10,
            ('deeplab', 5): 0.0,
            ('fomaml_star', 1): 0.20,
            ('joint', 1): 0.0,
            ('joint', 5): 0.0,
            ('imagenet', 1): 0.0,
            ('imagenet', 5): 0.0,
            ('fomaml_star+uho', 1): 0.30,
            ('fomaml_star+uho', 5): 0.10,
            ('joint+uho', 1): 0.1,
            ('joint+uho', 5): 0.1,
        }
    )
    fpk = tmp_path / 'fpk'
    fpk.mkdir()
    (fpk / 'results.json').write_text(
        json.dumps(
            {
                'findings': [
                    dict(variant='fixed_p50', verdict='holds', detail='a'),
                    dict(variant='fixed_p100', verdict='inconclusive', detail='b'),
                ]
            }
        )
    )
    wd = tmp_path / 'weights'
    wd.mkdir()
    (wd / 'results.json').write_text(
        json.dumps(
            {
                'findings': [dict(verdict='holds', ours='2.01x smaller', paper='5.9x smaller')],
                'comparisons': [
                    dict(
                        smaller='meta',
                        larger='joint',
                        ratio=2.0,
                        difference=1.149,
                        difference_ci95=0.17,
                        verdict='holds',
                    )
                ],
            }
        )
    )
    by_n, tf = _findings(res, fpk, wd)
    six = by_n[6]
    assert six['verdict'] == 'mixed', (
        f"finding 6: {six['verdict']!r} ({six['detail']})"
    )  # an inconclusive ">=" is not upgraded to "holds"
    assert [q['verdict'] for q in six['parts']] == ['inconclusive', 'holds', 'holds'] and six[
        'verdict_parts'
    ] == '2 hold, 1 inconclusive'
    assert (
        six['parts'][0]['comparison'] == 'fomaml_star_63 - fomaml_star (5-shot)'
        and abs(six['parts'][0]['difference']) < 0.01
    )
    assert set(six['parts'][0]) >= {'comparison', 'verdict', 'difference', 'ci95'}
    assert by_n[1]['verdict'] == 'holds' and by_n[1]['verdict_parts'] == '4 hold'
    assert by_n[3]['verdict'] == 'does not hold' and by_n[3]['verdict_parts'] == '3 hold, 1 does not hold'
    assert (
        by_n[3]['parts'][1]['verdict'] == 'does not hold'
        and by_n[3]['parts'][1]['comparison'] == 'fomaml_star+uho - fomaml_star (5-shot)'
    )
    assert by_n[2]['verdict'] == 'not tested' and by_n[2]['parts'] == []
    assert by_n[4]['verdict'] == 'mixed' and [q['comparison'] for q in by_n[4]['parts']] == ['fixed_p50', 'fixed_p100']
    assert by_n[5]['verdict'] == 'holds' and by_n[5]['parts'][0]['difference'] == 1.149
    row6 = next(l for l in tf.splitlines() if l.startswith('| 6 |'))
    assert (
        '| mixed (2 hold, 1 inconclusive) |' in row6
        and 'fomaml_star - noresidual (5-shot): +10.' in row6
        and ' holds; ' in row6
    )
    assert '| does not hold (3 hold, 1 does not hold) |' in tf and 'fixed_p100: inconclusive (b)' in tf
    json.dumps(list(by_n.values()))  # what results.json carries
    by_n, _ = _findings(res)  # FP-k and the weights not run
    assert by_n[4]['verdict'] == by_n[5]['verdict'] == 'not tested' and by_n[4]['detail'] == 'fpk=False'
