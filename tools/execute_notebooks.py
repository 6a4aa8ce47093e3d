"""Save notebooks executed: each notebook runs as `nbdev_test` runs it (nbdev's own `test_nb` settings: its cells in order
in one IPython shell, in `nbs/`, cells flagged with settings.ini's `tst_flags` or `eval: false` skipped, keeping the outputs they saved) and is written
back with its outputs, figures included, then cleaned with `nbdev_clean`. The temporary folders the notebooks' examples
make (`tempfile.mkdtemp()`) are written as `TMP`; an output that still names a path of this machine (the checkout, the
venv, a home folder) is refused: the notebook is left as it was and the cell is named.

Usage: python tools/execute_notebooks.py [NOTEBOOK ...]   (default: every notebook in nbs/, the guides included;
not nbs/experiments/, which papermill runs with parameters)
Run it after changing the code under a notebook, so that its saved outputs stay true; `make test` checks the rule on
paths (tests/test_repo.py)."""

from __future__ import annotations

import os, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what a saved output must not contain: where this machine keeps temporary files, the checkout, home or packages
MACHINE_PATH = re.compile(r'(/tmp/|/var/folders/|/home/|/root/|/work/|site-packages|' + re.escape(str(ROOT)) + ')')


TEMP_DIR = re.compile(re.escape(tempfile.gettempdir()) + r'/tmp[\w-]+')


def scrub_temp_dirs(nb):
    "Write each temporary folder in `nb`'s text outputs as TMP"

    def sub(t):  # a str, or a list of lines as nbformat stores it
        new = TEMP_DIR.sub('TMP', t if isinstance(t, str) else ''.join(t))
        return new if isinstance(t, str) else new.splitlines(keepends=True)

    for c in nb.cells:
        for o in c.get('outputs', []) if c.cell_type == 'code' else []:
            if 'text' in o:
                o['text'] = sub(o['text'])
            for mime in ('text/plain', 'text/markdown', 'text/html'):
                if mime in o.get('data', {}):
                    o['data'][mime] = sub(o['data'][mime])


def machine_paths(nb) -> list[str]:
    "The first line of each code cell whose outputs hold a machine path (`nb`: a notebook as JSON or as execnb reads it)"
    bad = []
    for c in nb['cells']:
        if c['cell_type'] != 'code':
            continue
        for o in c.get('outputs', []):
            parts = [
                o.get('text', ''),
                o.get('data', {}).get('text/plain', ''),
                o.get('data', {}).get('text/markdown', ''),
                o.get('data', {}).get('text/html', ''),
            ]
            parts += o.get('traceback', [])
            if MACHINE_PATH.search(''.join(x if isinstance(x, str) else ''.join(x) for x in parts)):
                src = c['source'] if isinstance(c['source'], str) else ''.join(c['source'])
                bad.append(src.strip().splitlines()[0][:80] if src.strip() else '(empty cell)')
                break
    return bad


def execute(fn: Path) -> tuple[bool, str]:
    from execnb.nbio import write_nb
    from execnb.shell import CaptureShell
    from fastcore.basics import str2bool
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor

    flags = set(get_config(path=ROOT).tst_flags.split())
    fm = getattr(NBProcessor(fn, procs=FrontmatterProc, process=True).nb, 'frontmatter_', {})
    if str2bool(fm.get('skip_exec', False)):
        return True, 'skip_exec: left as it is'
    nb = NBProcessor(fn, rm_directives=False).nb  # the directives stay in the cells written back

    def no_eval(cell):  # nbdev_test's own rule (a function inside `nbdev.test.test_nb`, so not importable)
        if cell.cell_type != 'code':
            return True
        d = cell.directives_ or {}
        return d.get('eval:', [''])[0].lower() == 'false' or bool(flags & d.keys())

    for c in nb.cells:  # a cell that runs gets fresh outputs; one that is skipped keeps what it saved (a `slow` figure)
        if c.cell_type == 'code' and not no_eval(c):
            c.outputs, c.execution_count = [], None
    k = CaptureShell(fn)
    os.environ['IN_TEST'] = '1'  # as nbdev_test sets it
    with working_directory(fn.parent):
        try:
            k.run_all(nb, exc_stop=True, preproc=no_eval)
        except Exception:
            return False, k.prettytb(fname=fn)
    scrub_temp_dirs(nb)
    if bad := machine_paths(nb):
        return False, 'outputs hold machine paths, in the cells starting: ' + '; '.join(bad)
    write_nb(nb, fn)
    return True, ''


def main(argv: list[str]) -> int:
    fns = [Path(a).resolve() for a in argv] or sorted((ROOT / 'nbs').glob('*.ipynb'))
    failed = []
    for fn in fns:
        t0 = time.time()
        ok, msg = execute(fn)
        print(f"{'saved' if ok else 'NOT saved'}: {fn.relative_to(ROOT)} ({time.time() - t0:.0f} s) {msg}", flush=True)
        failed += [] if ok else [fn]
    subprocess.run([str(Path(sys.executable).parent / 'nbdev_clean')], cwd=ROOT, check=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
