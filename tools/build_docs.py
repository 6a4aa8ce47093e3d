"""Build the docs site offline, without Quarto: `make docs` runs this.

1. nbdev's own notebook processing (`nbdev.serve.proc_nbs`, what `nbdev_docs` runs before Quarto) writes
   `_proc/`: front matter, `show_doc` cells for every exported function and class (the notebooks show their
   classes' methods themselves) with signatures and parameter tables, exported and hidden cells dropped, names in
   backticks linked. It executes exported cells, `show_doc` cells and cells with imports; the notebooks keep their
   imports in cells of their own (tests/test_repo.py checks), so nothing else runs.
2. A converter turns the processed notebooks into pages for mkdocs-jupyter (`.docs_build/src/`):
   front matter -> `# Title` + description, `#| echo: false` -> a `remove_input` tag, other `#|`
   lines and Quarto-only link attributes (`{target=...}`) removed, absolute `doc_host` links made
   relative with anchors that exist on this site, links to notebooks (`nbs/guide_speed.ipynb`, as GitHub follows
   them) pointed at their pages, the `guide_*` notebooks a section of their own, the experiment notebooks' parameters as a table,
   an API index of every exported name, `figures/` and MathJax 3 (from npm, into an ignored folder).
3. `mkdocs build` (mkdocs-material + mkdocs-jupyter, `execute: false`) writes the site to `_docs/`.

Usage: python tools/build_docs.py [--if-stale] [--site-dir DIR]
(`make docs-serve` serves the site with Python's own `http.server`.)
"""

from __future__ import annotations

import argparse, fcntl, hashlib, html, inspect, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / '.docs_build'  # ignored: converted pages, the npm install of MathJax, mkdocs' cache
SRC = WORK / 'src'
SITE = ROOT / '_docs'
MATHJAX_VERSION = '3.2.2'
MATHJAX_FILES = ['tex-mml-svg.js', 'input', 'a11y', 'ui']  # the combined component + what it lazy-loads
STAMP_NAME = '.build_inputs'


def log(*a):
    print('[docs]', *a, flush=True)


# ------------------------------------------------------------------------------------------------
# what the site is built from (for --if-stale and the browser test)


def input_files() -> list[Path]:
    pats = [
        'nbs/**/*.ipynb',
        'nbs/*.yml',
        'nbs/styles.css',
        'figures/**/*',
        'mliis_nb/**/*.py',
        'docs/**/*',
        'tools/build_docs.py',
        'tools/mkdocs_hooks.py',
        'mkdocs.yml',
        'settings.ini',
    ]
    fs = {p for pat in pats for p in ROOT.glob(pat) if p.is_file() and '.ipynb_checkpoints' not in p.parts}
    return sorted(fs)


def inputs_hash() -> str:
    h = hashlib.sha256()
    for p in input_files():
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(b'\0')
        h.update(p.read_bytes())
        h.update(b'\0')
    return h.hexdigest()


def is_fresh(site: Path = SITE) -> bool:
    stamp = site / STAMP_NAME
    return stamp.exists() and stamp.read_text().strip() == inputs_hash() and (site / 'index.html').exists()


# ------------------------------------------------------------------------------------------------
# step 1: nbdev's processing


def run_proc():
    "nbdev's processing as nbdev_docs runs it before Quarto, with nbdev's own processors only"
    os.chdir(ROOT)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    import warnings, nbdev.serve

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        nbdev.serve.proc_nbs(n_workers=0, force=True)
    return ROOT / '_proc'


# ------------------------------------------------------------------------------------------------
# step 2: processed notebooks -> mkdocs-jupyter pages


def slug(text: str) -> str:
    "The id mkdocs-jupyter gives a heading: Python-Markdown's toc extension's own slugify"
    from markdown.extensions.toc import slugify

    return slugify(text, '-')


def pandoc_id(text: str) -> str:
    "The id Quarto (pandoc) gives a heading: what nbdev's links point at"
    v = re.sub(r'[^\w\s.-]', '', text).strip().lower()
    return re.sub(r'\s+', '-', v)


def heading_text(md_line: str) -> str:
    t = re.sub(r'^#+\s*', '', md_line).strip()
    t = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', t)  # links -> their text
    return t.replace('`', '').replace('\\', '').replace('*', '')


def md_headings(md: str) -> list[str]:
    out, fence = [], False
    for line in md.splitlines():
        if line.lstrip().startswith('```'):
            fence = not fence
        elif not fence and re.match(r'#{1,6}\s', line):
            out.append(heading_text(line))
    return out


def cfg():
    "settings.ini, as nbdev reads it"
    from nbdev.config import get_config

    return get_config(path=ROOT)


def text_of(x) -> str:
    return ''.join(x) if isinstance(x, list) else (x or '')


def page_name(rel: Path, fm: dict) -> Path:
    "io.html for 20_io.ipynb, as Quarto names it"
    out = fm.get('output-file')
    name = Path(out).stem if out else re.sub(r'^\d+[_-]', '', rel.stem)
    return rel.parent / f'{name}.ipynb'


def parse_frontmatter(src: str) -> dict:
    import yaml

    m = re.match(r'\s*---\s*\n(.*?)\n---', src, re.S)
    try:
        return (yaml.safe_load(m.group(1)) or {}) if m else {}
    except Exception:
        return {}


class Converter:
    def __init__(self, proc: Path, dest: Path):
        c = cfg()
        self.proc, self.dest = proc, dest
        self.doc_base = c['doc_host'].rstrip('/') + c.get('doc_baseurl', '').rstrip('/') + '/'
        self.pages = {}  # processed notebook (relative path) -> dict(page=Path, title, desc, nb, module)
        self.unlinked = []  # links to anchors that do not exist here (e.g. private names)

    # -- pass 1: read every notebook, decide its page name and collect its headings
    def collect(self):
        for f in sorted(self.proc.rglob('*.ipynb')):
            rel = f.relative_to(self.proc)
            if any(p.startswith(('.', '_')) for p in rel.parts):
                continue
            nb = json.loads(f.read_text(encoding='utf-8'))
            fm = {}
            cells = nb['cells']
            while cells and cells[0]['cell_type'] == 'raw' and text_of(cells[0]['source']).lstrip().startswith('---'):
                fm.update(parse_frontmatter(text_of(cells.pop(0)['source'])))
            cells = [
                c
                for c in cells
                if not (
                    c['cell_type'] == 'markdown'
                    and text_of(c['source']).strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED')
                )
            ]
            title, desc = fm.get('title'), fm.get('description')
            if not title and cells and cells[0]['cell_type'] == 'markdown':  # `# Title\n\n> description` left as a cell
                m = re.match(
                    r'\s*#\s+(.+?)\s*\n(?:\s*\n)*(?:>\s*(.+?))?\s*(?:\n\s*\n|$)', text_of(cells[0]['source']), re.S
                )
                if m:
                    title, desc = m.group(1), (m.group(2) or '').replace('\n> ', ' ').replace('\n', ' ') or None
                    rest = text_of(cells[0]['source'])[m.end() :].strip()
                    if rest:
                        cells[0]['source'] = rest
                    else:
                        cells.pop(0)
            nb['cells'] = cells
            page = page_name(rel, fm)
            src = ROOT / 'nbs' / rel
            # headings in page order (the title first), as the page will number repeated ones: x, x_1, x_2
            heads = [(title or page.stem, False)]
            for c in cells:
                if c['cell_type'] == 'markdown':
                    heads += [(h, False) for h in md_headings(text_of(c['source']))]
                for o in c.get('outputs', []):
                    if 'text/markdown' in o.get('data', {}):
                        heads += [(h, True) for h in md_headings(text_of(o['data']['text/markdown']))]
            seen, slugs, anchors, entries = {}, set(), {}, {}
            for h, is_doc in heads:
                s0 = slug(h)
                n = seen.get(s0, 0)
                seen[s0] = n + 1
                s1 = s0 if n == 0 else f'{s0}_{n}'
                slugs.add(s1)
                if is_doc:
                    entries[h] = s1
                    anchors[pandoc_id(h)] = s1  # an API entry wins its anchor
                else:
                    anchors.setdefault(pandoc_id(h), s1)
            src_nb = json.loads(src.read_text(encoding='utf-8')) if src.exists() else {'cells': []}
            mod = next(
                (
                    m.group(1)
                    for c in src_nb['cells']
                    if c['cell_type'] == 'code'
                    for m in [re.search(r'(?m)^#\|\s*default_exp\s+(\S+)', text_of(c['source']))]
                    if m
                ),
                None,
            )
            self.pages[rel] = dict(
                page=page,
                title=title or page.stem,
                desc=desc,
                nb=nb,
                fm=fm,
                module=mod,
                anchors=anchors,
                slugs=slugs,
                entries=entries,
                src=src,
            )
        by_page = {}
        for rel, p in self.pages.items():
            if p['page'] in by_page:
                raise SystemExit(f'two notebooks make the page {p["page"]}: {by_page[p["page"]]} and {rel}')
            by_page[p['page']] = rel
        self.by_html = {str(p['page'].with_suffix('.html')): p for p in self.pages.values()}

    # -- links
    def rel_url(self, target: str, here: Path) -> str:
        return os.path.relpath(target, here.parent.as_posix() or '.') if here.parent != Path('.') else target

    def fix_link(self, url: str, here: Path, text: str, nb_src: Path | None = None) -> str | None:
        "A site-relative url for `url`, or None when it points at an anchor this site does not have"
        if url.startswith(self.doc_base):
            url = url[len(self.doc_base) :]
        elif nb_src is not None and re.match(r'^[^:#]+\.ipynb(#|$)', url):  # a notebook, as GitHub and Jupyter link it
            path, _, frag = url.partition('#')
            for base in (nb_src.parent, ROOT):  # relative to the notebook, or (as in the README) to the repository
                f = (base / path).resolve()
                if (
                    f.is_file()
                    and f.is_relative_to(ROOT / 'nbs')
                    and (rel := f.relative_to(ROOT / 'nbs')) in self.pages
                ):
                    url = str(self.pages[rel]['page'].with_suffix('.html')) + ('#' + frag if frag else '')
                    break
        elif re.match(r'^[a-z]+:|^//', url) or url.startswith('#'):
            if url.startswith('#'):
                p = self.by_html.get(str(here.with_suffix('.html')))
                frag = url[1:]
                if p and frag not in p['slugs']:
                    if frag in p['anchors']:
                        return '#' + p['anchors'][frag]
                    return None
            return url
        path, _, frag = url.partition('#')
        p = self.by_html.get(path)
        mine = self.by_html.get(str(here.with_suffix('.html')))
        if re.fullmatch(r'__\w+__', frag) and mine and frag in mine['slugs']:
            return '#' + frag  # a module's own `__getattr__`, not the first one nbdev's index lists
        if p is None:
            return (
                self.rel_url(path, here) + ('#' + frag if frag else '')
                if (self.dest / path).exists() or path.endswith('/')
                else None
            )
        if frag and frag not in p['slugs']:
            while frag not in p['anchors'] and '.' in frag:
                frag = frag.rsplit('.', 1)[0]  # Class.__init__ -> Class
            if frag not in p['anchors']:
                return None
            frag = p['anchors'][frag]
        return self.rel_url(str(p['page'].with_suffix('.html')), here) + ('#' + frag if frag else '')

    def fix_md(self, md: str, here: Path, nb_src: Path) -> str:
        md = re.sub(r'(\]\([^)\s]*\))\{[^}\n]*\}', r'\1', md)  # Quarto-only link attributes
        out, fence = [], False
        for line in md.split('\n'):
            if line.lstrip().startswith('```'):
                fence = not fence
                out.append(line)
                continue
            if fence:  # links inside code (show_doc signatures) -> plain names
                out.append(re.sub(r'\[`?([^\]`]*)`?\]\([^)\s]*\)', r'\1', line))
                continue

            def link(m):
                bang, text, url = m.group(1), m.group(2), m.group(3)
                if bang:
                    return f'![{text}]({self.fix_image(url, here, nb_src)})'
                new = self.fix_link(url, here, text, nb_src)
                if new is None:
                    self.unlinked.append((str(here), text, url))
                    return text
                return f'[{text}]({new})'

            if re.match(r'#+\s', line):  # `### __getattr__` would render as a bold "getattr" with the id "getattr"
                line = re.sub(r'(?<![\w\\`])__(\w+?)__(?!\w)', r'\\_\\_\1\\_\\_', line)
            out.append(re.sub(r'(!?)\[([^\]]*)\]\(([^)\s]+)\)', link, line))
        md = '\n'.join(out)
        return re.sub(
            r'(<img\b[^>]*\bsrc=")([^"]+)(")',
            lambda m: m.group(1) + self.fix_image(m.group(2), here, nb_src) + m.group(3),
            md,
        )

    def fix_image(self, url: str, here: Path, nb_src: Path) -> str:
        if re.match(r'^[a-z]+:|^//', url) or url.startswith('attachment:'):
            return url
        for base in (nb_src.parent, ROOT):  # relative to the notebook, or (as in the README) to the repository
            f = (base / url).resolve()
            if f.exists() and f.is_relative_to(ROOT / 'figures'):
                return self.rel_url(f.relative_to(ROOT).as_posix(), here)
        return url

    # -- pass 2: write the pages
    def convert_cell(self, c: dict, here: Path, nb_src: Path) -> dict | None:
        if c['cell_type'] == 'markdown':
            return {
                'cell_type': 'markdown',
                'metadata': {},
                'source': self.fix_md(text_of(c['source']), here, nb_src),
                **({'attachments': c['attachments']} if c.get('attachments') else {}),
            }
        if c['cell_type'] == 'raw':
            return None
        src = text_of(c['source'])
        dirs = dict((m.group(1), m.group(2).strip()) for m in re.finditer(r'(?m)^\s*#\|\s*([\w-]+):?\s*(.*)$', src))
        src = re.sub(r'(?m)^\s*#\|.*(\n|$)', '', src).strip('\n')
        if dirs.get('include') == 'false':
            return None
        tags = list(c.get('metadata', {}).get('tags', []))
        if dirs.get('echo') == 'false' and 'remove_input' not in tags:
            tags.append('remove_input')
        if dirs.get('output') == 'false':
            c['outputs'] = []
        c['source'] = src
        meta = {k: v for k, v in c.get('metadata', {}).items() if k in ('tags',)}
        if tags:
            meta['tags'] = tags
        c['metadata'] = meta
        for o in c.get('outputs', []):
            d = o.get('data', {})
            if 'text/markdown' in d:
                d['text/markdown'] = self.fix_md(text_of(d['text/markdown']), here, nb_src)
                d.pop('text/plain', None) if 'remove_input' in tags else None
        if not src and not c.get('outputs'):
            return None
        c.setdefault('execution_count', None)
        c.setdefault('outputs', [])
        return {k: c[k] for k in ('cell_type', 'metadata', 'source', 'outputs', 'execution_count', 'id') if k in c}

    def params_cell(self, p: dict) -> dict | None:
        "The parameters of a papermill notebook as a table, and how to run it"
        try:
            import papermill as pm

            params = pm.inspect_notebook(str(p['src']))
        except Exception as e:
            log(f'no parameters table for {p["src"].name}: {e}')
            return None
        if not params:
            return None
        rel = p['src'].relative_to(ROOT).as_posix()
        rows = ['| parameter | default | meaning |', '|---|---|---|']
        for name, v in params.items():
            esc = lambda s: str(s).replace('|', '\\|')
            rows.append(f'| `{name}` | `{esc(v["default"])}` | {esc(v.get("help", ""))} |')
        src = (
            f'## How to run it\n\n```sh\npapermill {rel} runs/{p["src"].stem}.ipynb -p out_dir runs/{p["src"].stem}'
            f'  # -p NAME VALUE for any parameter below\npapermill --help-notebook {rel}   # the same list\n```\n\n'
            f'### Parameters\n\n' + '\n'.join(rows)
        )
        return {'cell_type': 'markdown', 'metadata': {}, 'source': src}

    def write(self):
        if self.dest.exists():
            shutil.rmtree(self.dest)
        self.dest.mkdir(parents=True)
        for rel, p in self.pages.items():
            here, nb = p['page'], p['nb']
            cells = [c for c in (self.convert_cell(c, here, p['src']) for c in nb['cells']) if c]
            head = f'# {p["title"]}\n\n' + (f'> {p["desc"]}\n' if p['desc'] else '')
            cells.insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': head})
            if rel.parts[0] == 'experiments':
                pc = self.params_cell(p)
                if pc:  # after the introduction, before the notebook's own parameters cell
                    i = next(
                        (i for i, c in enumerate(cells) if 'parameters' in c.get('metadata', {}).get('tags', [])),
                        len(cells),
                    )
                    cells.insert(i, pc)
            nb['cells'] = cells
            nb['metadata'] = {k: v for k, v in nb.get('metadata', {}).items() if k in ('kernelspec', 'language_info')}
            out = self.dest / here
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')

    # -- the API index: every exported name, with a link to its entry or, without one, its value
    def api_page(self) -> list[str]:
        import importlib

        c = cfg()
        lib = c['lib_name']
        lines = [
            '# API index',
            '',
            f'Every name the `{lib}` library exports (its modules\' `__all__`), with the notebook that '
            'documents it. Functions, classes and methods link to their entry (signature, parameters, '
            'source); constants show their value.',
            '',
        ]
        missing = []
        pkg = importlib.import_module(lib)
        top = list(getattr(pkg, '__all__', []))
        if top:  # the curated names `from mliis_nb import ...` offers, each pointing at its module's entry
            lines += [
                f'## `{lib}`',
                '',
                f'`from {lib} import ...` offers these names, each the object of the module shown.',
                '',
                '| name | module |',
                '|---|---|',
            ]
            for n in top:
                obj = getattr(pkg, n)
                p = next(
                    (
                        p
                        for p in self.pages.values()
                        if p['module'] and getattr(importlib.import_module(f"{lib}.{p['module']}"), n, None) is obj
                    ),
                    None,
                )
                if p is None:
                    lines.append(f'| `{n}` | |')
                    continue
                a = p['entries'].get(n)
                ref = f"[`{n}`]({p['page'].as_posix()}#{a})" if a else f'`{n}`'
                lines.append(f"| {ref} | [`{lib}.{p['module']}`](#{slug(lib + '.' + p['module'])}) |")
            lines.append('')
        for p in sorted(self.pages.values(), key=lambda p: str(p['page'])):
            if not p['module']:
                continue
            modname = f'{lib}.{p["module"]}'
            mod = importlib.import_module(modname)
            names = list(getattr(mod, '__all__', []))
            if not names:
                continue
            link = p['page'].as_posix()
            lines += [
                f'## `{modname}`',
                '',
                f'Documented in [{p["title"]}]({link}).',
                '',
                '| name | kind | summary |',
                '|---|---|---|',
            ]
            for n in names:
                obj = getattr(mod, n, None)
                kind = 'class' if inspect.isclass(obj) else 'function' if callable(obj) else 'constant'
                doc = (
                    (inspect.getdoc(obj) or '').strip().split('\n\n')[0].replace('\n', ' ')
                    if kind != 'constant'
                    else ''
                )
                cell = lambda s: html.escape(s, quote=False).replace('|', '\\|')
                if kind == 'constant':
                    r = repr(obj)
                    r = r if len(r) <= 90 else r[:87] + '...'  # (pipes inside code spans do not split a table row)
                    tick = '``' if '`' in r else '`'
                    lines.append(f'| `{n}` | {type(obj).__name__} | {tick}{r}{tick} |')
                    continue
                anchor = p['entries'].get(n)
                ref = f'[`{n}`]({link}#{anchor})' if anchor else f'`{n}`'
                if not anchor:
                    missing.append(f'{modname}.{n}')
                lines.append(f'| {ref} | {kind} | {cell(doc)} |')
                if inspect.isclass(obj):
                    for m, v in vars(obj).items():
                        if m.startswith('_') or not (
                            inspect.isfunction(v) or isinstance(v, (property, staticmethod, classmethod))
                        ):
                            continue
                        a = p['entries'].get(f'{n}.{m}')
                        if a:
                            d = (
                                (inspect.getdoc(getattr(obj, m, None)) or '')
                                .strip()
                                .split('\n\n')[0]
                                .replace('\n', ' ')
                            )
                            lines.append(f'| [`{n}.{m}`]({link}#{a}) | method | {cell(d)} |')
            lines.append('')
        if missing:
            log('exported names without a documentation entry (listed without a link):', ', '.join(missing))
        return lines

    def experiments_page(self, exps) -> list[str]:
        lines = [
            '# How to run',
            '',
            'The experiment notebooks in `nbs/experiments/` are run with '
            '[papermill](https://papermill.readthedocs.io): each has one cell tagged `parameters`, checks its '
            'parameters before it runs and writes everything (results.json, figures, checkpoints) into its '
            '`out_dir`. Every page below lists the notebook\'s parameters with their defaults.',
            '',
            '```sh',
            'papermill nbs/experiments/NAME.ipynb runs/NAME.ipynb -p out_dir runs/NAME -p seed 1',
            'papermill --help-notebook nbs/experiments/NAME.ipynb   # its parameters',
            '```',
            '',
            '| notebook | what it does |',
            '|---|---|',
        ]
        for p in exps:
            lines.append(f'| [{p["title"]}]({p["page"].relative_to("experiments").as_posix()}) | {p["desc"] or ""} |')
        return lines


# ------------------------------------------------------------------------------------------------
# MathJax 3, from npm, into an ignored folder (4.5 MB of minified JavaScript does not belong in git)


def mathjax(dest: Path):
    es5 = WORK / 'npm' / 'node_modules' / 'mathjax' / 'es5'
    pkg = es5.parent / 'package.json'
    if not (pkg.exists() and json.loads(pkg.read_text())['version'] == MATHJAX_VERSION):
        npm = shutil.which('npm')
        if not npm:
            raise SystemExit('make docs needs npm for MathJax 3 (Debian: apt-get install -y npm)')
        log(f'npm install mathjax@{MATHJAX_VERSION}')
        (WORK / 'npm').mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                'install',
                '--prefix',
                str(WORK / 'npm'),
                '--no-audit',
                '--no-fund',
                '--no-save',
                '--loglevel=error',
                f'mathjax@{MATHJAX_VERSION}',
            ],
            check=True,
        )
    dest.mkdir(parents=True, exist_ok=True)
    for f in MATHJAX_FILES:
        s = es5 / f
        (shutil.copytree if s.is_dir() else shutil.copy2)(s, dest / f)


# ------------------------------------------------------------------------------------------------


def nav_entry(p):
    return {p['title']: p['page'].as_posix()}


GUIDE_PREFIX = 'guide_'  # nbs/guide_*.ipynb: markdown pages (what the README points to), a section of their own


MACHINERY_FROM = 20  # notebooks 00-17 follow the paper, 20-28 are the machinery under them (as in nbs/sidebar.yml)


def sidebar_order() -> dict[str, int]:
    "The position of each notebook in nbs/sidebar.yml (Quarto's sidebar), so both sites list the guides alike"
    import yaml

    f = ROOT / 'nbs' / 'sidebar.yml'
    if not f.exists():
        return {}
    names = []

    def walk(x):
        if isinstance(x, str):
            names.append(Path(x).name)
        elif isinstance(x, list):
            [walk(i) for i in x]
        elif isinstance(x, dict):
            [walk(v) for k, v in x.items() if k in ('contents', 'sidebar', 'website')]

    walk(yaml.safe_load(f.read_text(encoding='utf-8')))
    return {n: i for i, n in enumerate(names)}


def build(site: Path = SITE):
    t0 = time.time()
    WORK.mkdir(exist_ok=True)
    lock = open(WORK / 'lock', 'w')
    fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time (nbdev's _proc/ is a fixed folder)
    h = inputs_hash()
    proc = run_proc()
    t1 = time.time()
    conv = Converter(proc, SRC)
    conv.collect()
    conv.write()
    pages = sorted(conv.pages.values(), key=lambda p: str(p['src']))
    home = [p for p in pages if p['src'].name == conv_readme_nb()]
    exps = [p for p in pages if p['page'].parts[0] == 'experiments']
    order = sidebar_order()
    guides = sorted(
        [p for p in pages if p['src'].parent == ROOT / 'nbs' and p['src'].name.startswith(GUIDE_PREFIX)],
        key=lambda p: (order.get(p['src'].name, len(order)), p['src'].name),
    )
    lib = [p for p in pages if p not in home and p not in exps and p not in guides]
    (SRC / 'api.md').write_text('\n'.join(conv.api_page()) + '\n', encoding='utf-8')
    nav = [{'Home': home[0]['page'].as_posix()}] if home else []
    if guides:
        nav.append({'Guides': [nav_entry(p) for p in guides]})
    part = lambda p: int(m.group(1)) if (m := re.match(r'(\d+)_', p['src'].name)) else 99
    nav += [
        {'The paper, part by part': [nav_entry(p) for p in lib if part(p) < MACHINERY_FROM]},
        {'Machinery': [nav_entry(p) for p in lib if part(p) >= MACHINERY_FROM]},
        {'API index': 'api.md'},
    ]
    if exps:
        (SRC / 'experiments' / 'index.md').write_text('\n'.join(conv.experiments_page(exps)) + '\n', encoding='utf-8')
        nav.append({'How to run': ['experiments/index.md'] + [nav_entry(p) for p in exps]})
    for u in conv.unlinked:
        log(f'unlinked in {u[0]}: {u[1]} -> {u[2]} (no such entry on this site)')
    shutil.copytree(ROOT / 'figures', SRC / 'figures')
    if (ROOT / 'docs').is_dir():
        shutil.copytree(ROOT / 'docs', SRC, dirs_exist_ok=True)
    mathjax(SRC / 'js' / 'mathjax')
    import yaml

    gen = {
        'INHERIT': str(ROOT / 'mkdocs.yml'),
        'docs_dir': str(SRC),
        'site_dir': str(site),
        'hooks': [str(ROOT / 'tools' / 'mkdocs_hooks.py')],
        'nav': nav,
    }
    (WORK / 'mkdocs.yml').write_text(yaml.safe_dump(gen, sort_keys=False, allow_unicode=True), encoding='utf-8')
    t2 = time.time()
    subprocess.run(
        [sys.executable, '-m', 'mkdocs', 'build', '--clean', '--strict', '-q', '-f', str(WORK / 'mkdocs.yml')],
        check=True,
        cwd=ROOT,
        env=dict(os.environ, NO_MKDOCS_2_WARNING='1'),
    )
    (site / STAMP_NAME).write_text(h + '\n')
    n = len(list(site.rglob('*.html'))) - len(list(site.rglob('404.html')))
    log(
        f'{n} pages in {site.relative_to(ROOT) if site.is_relative_to(ROOT) else site} '
        f'in {time.time() - t0:.1f} s (nbdev processing {t1 - t0:.1f} s, convert {t2 - t1:.1f} s, mkdocs {time.time() - t2:.1f} s)'
    )
    fcntl.flock(lock, fcntl.LOCK_UN)


def conv_readme_nb() -> str:
    return cfg().get('readme_nb', 'index.ipynb')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument(
        '--if-stale', action='store_true', help='do nothing when the site is already built from these inputs'
    )
    ap.add_argument('--site-dir', type=Path, default=SITE)
    a = ap.parse_args()
    site = a.site_dir.resolve()
    if a.if_stale and is_fresh(site):
        log(f'{site} is up to date')
    else:
        build(site)
    # Everything is written. Skip the interpreter's exit: the IPython shells nbdev's processing made (one
    # a notebook) each run a reset with a garbage collection at exit, about 25 s for nothing here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
