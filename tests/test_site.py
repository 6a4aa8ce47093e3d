"""The docs site in a real browser: build it in a temporary copy of the repository (the build writes
`_proc/`, `.docs_build/` and `_docs/` beside settings.ini; the repository itself is left alone), serve it on
127.0.0.1, open every page in headless Chromium and fail on anything a reader would see broken.

Chromium is Debian's (`.ci/run` installs it); Playwright drives it (its own browser download needs the
network). Without Chromium the browser test skips and says how to install it.
"""

import functools, http.server, os, shutil, subprocess, sys, threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit, unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
# what tools/build_docs.py reads (its `input_files`, settings.ini for nbdev, mkdocs.yml and the hooks)
SITE_INPUTS = (
    'settings.ini',
    'mkdocs.yml',
    'nbs',
    'mliis_nb',
    'figures',
    'docs',
    'tools/build_docs.py',
    'tools/mkdocs_hooks.py',
)
MATHJAX = Path('.docs_build') / 'npm'  # MathJax 3 as `make docs` fetched it with npm: reused when there, else fetched
CHROMIUM_INSTALL = 'apt-get install -y --no-install-recommends chromium fonts-dejavu-core'
CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-dev-shm-usage',
]
HOME_FIGURE = 'figures/demo_results.png'
SCREENSHOT_PAGE = 'losses.html'  # a notebook page with equations and show_doc entries


def _chromium() -> str | None:
    for name in ('chromium', 'chromium-browser'):
        if p := shutil.which(name):
            return p
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture(scope='module')
def chromium():
    exe = _chromium()
    if not exe:
        pytest.skip(f'Chromium is not installed (Debian, as root: {CHROMIUM_INSTALL}; .ci/run does this)')
    return exe


def copy_for_docs(dest: Path) -> Path:
    "A copy of what the docs build reads, at `dest` (the repository's own files are only read)."
    skip = shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints', '*.pyc')
    for rel in SITE_INPUTS:
        src, out = REPO / rel, dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, out, ignore=skip)
        elif src.is_file():
            shutil.copy2(src, out)
    if (REPO / MATHJAX).is_dir():
        shutil.copytree(REPO / MATHJAX, dest / MATHJAX, symlinks=True)
    return dest


def _build(root: Path):
    r = subprocess.run(
        [sys.executable, str(root / 'tools' / 'build_docs.py')],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, NO_MKDOCS_2_WARNING='1'),
    )
    print(r.stdout[-3000:])
    assert r.returncode == 0, f'the docs build failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    "A copy of the repository's docs inputs with the site built in it: (the copy, its `_docs/`)."
    root = copy_for_docs(tmp_path_factory.mktemp('docs_copy'))
    _build(root)
    return root, root / '_docs'


@pytest.fixture(scope='module')
def site(built):
    return built[1]


@pytest.fixture(scope='module')
def server(site):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Handler, directory=str(site)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown()
    srv.server_close()


_COLLECT = r"""() => {
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id)
      .concat([...document.querySelectorAll('a[name]')].map(e => e.getAttribute('name')));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const imgs = [...document.querySelectorAll('img')].map(i => ({src: i.currentSrc || i.src,
      ok: i.complete && i.naturalWidth > 0}));
  const math = document.querySelectorAll('mjx-container').length;
  const merr = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e => e.getAttribute('data-mjx-error') || e.textContent);
  const article = document.querySelector('article') || document.body;
  const external = [...document.querySelectorAll('script[src], link[rel=stylesheet][href], img[src], iframe[src]')]
      .map(e => e.src || e.href).filter(u => !u.startsWith(location.origin) && !u.startsWith('data:'));
  const cdn = document.documentElement.outerHTML.match(/https?:\/\/(cdn|cdnjs|unpkg|fonts\.googleapis)[^"' )]*/g) || [];
  return {ids, links, imgs, math, merr, external, cdn, text: article.innerText, title: document.title};
}"""


def test_site_in_browser(chromium, site, server, tmp_path):
    from playwright.sync_api import sync_playwright

    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html') if p.name != '404.html')
    assert len(pages) >= 10 and 'index.html' in pages and 'api.html' in pages, pages
    problems, seen, links = [], {}, []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        ctx = browser.new_context(viewport={'width': 1280, 'height': 900})
        page = ctx.new_page()
        current = {'url': ''}

        def note(kind, msg):
            problems.append(f'{current["url"]}: {kind}: {msg}')

        page.on('console', lambda m: note('console error', m.text) if m.type == 'error' else None)
        page.on('pageerror', lambda e: note('page error', e))
        aborted = []  # cancelled because the test moved on (e.g. the search worker): checked on disk below
        page.on(
            'requestfailed',
            lambda r: (
                aborted.append((current['url'], r.url))
                if 'ERR_ABORTED' in (r.failure or '')
                else note('failed request', f'{r.url} ({r.failure})')
            ),
        )
        page.on(
            'response',
            lambda r: (
                note(f'HTTP {r.status}', r.url)
                if r.status >= 400 and not urlsplit(r.url).path.endswith('favicon.ico')
                else None
            ),
        )
        for rel in pages:
            url = urljoin(server, rel)
            current['url'] = rel
            page.goto(url, wait_until='load')
            page.wait_for_function(
                '() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)'
            )
            page.evaluate(
                '() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise.then(() => true) : true'
            )
            d = page.evaluate(_COLLECT)
            seen[rel] = d
            for img in d['imgs']:
                if not img['ok']:
                    problems.append(f'{rel}: image not shown: {img["src"]}')
            if '$$' in d['text']:
                problems.append(f'{rel}: raw $$ in the visible text (maths not rendered)')
            for e in d['merr']:
                problems.append(f'{rel}: MathJax error: {e}')
            for u in d['external'] + d['cdn']:
                problems.append(f'{rel}: refers to a resource outside the site: {u}')
            links += [(rel, h) for h in d['links']]
            if rel == 'index.html':
                fig = page.locator(f'article img[src$="{HOME_FIGURE}"]')
                assert fig.count() >= 1, 'the home page does not show the results figure'
                fig.first.scroll_into_view_if_needed()
                assert fig.first.is_visible() and fig.first.evaluate('i => i.naturalWidth') > 100
                page.evaluate('() => window.scrollTo(0, 0)')
                shot = tmp_path / 'site_home.png'
                page.screenshot(path=str(shot))
                print(f'\nscreenshot of the home page: {shot}')
            if rel == SCREENSHOT_PAGE:
                shot = tmp_path / 'site_losses.png'
                page.screenshot(path=str(shot))
                print(f'screenshot of a notebook page: {shot}')
        browser.close()
    for rel, url in aborted:
        if not url.startswith(server) or not (site / unquote(urlsplit(url).path)[1:]).is_file():
            problems.append(f'{rel}: failed request: {url}')
    # links inside the site: the file exists, and a #fragment names an element of the page it points at
    checked = set()
    for rel, href in links:
        u = urlsplit(href)
        if not href.startswith(server) or (u.path, u.fragment) in checked:
            continue
        checked.add((u.path, u.fragment))
        target = unquote(u.path)[1:] or 'index.html'
        if target.endswith('/'):
            target += 'index.html'
        if not (site / target).is_file():
            problems.append(f'{rel}: link to a missing page: {href}')
            continue
        if u.fragment and target in seen and unquote(u.fragment) not in seen[target]['ids']:
            problems.append(f'{rel}: link to a missing anchor: {href}')
    assert sum(d['math'] for d in seen.values()) > 20, 'no rendered maths on the site'
    assert seen[SCREENSHOT_PAGE]['math'] > 0, f'no rendered maths on {SCREENSHOT_PAGE}'
    assert not problems, f'{len(problems)} problems:\n' + '\n'.join(p[:300] for p in dict.fromkeys(problems))
    print(
        f'{len(pages)} pages, {len(checked)} distinct internal links checked, '
        f'{sum(d["math"] for d in seen.values())} formulas rendered'
    )


def test_site_has_every_notebook_and_api_entry(built):
    "Every notebook the site was built from has its page; every exported function and class has an entry (an anchor) on the site."
    import re

    root, site = built
    htmls = {p.relative_to(site).as_posix() for p in site.rglob('*.html')}
    nbs = sorted((root / 'nbs').rglob('*.ipynb'))
    assert {nb.relative_to(root).as_posix() for nb in nbs} >= {
        'nbs/index.ipynb',
        'nbs/07_adapt.ipynb',
        'nbs/experiments/demo.ipynb',
    }
    for nb in nbs:
        rel = nb.relative_to(root / 'nbs')
        name = re.sub(r'^\d+[_-]', '', rel.stem)
        assert (rel.parent / f'{name}.html').as_posix() in htmls, f'no page for {rel}'
    api = (site / 'api.html').read_text(encoding='utf-8')
    import importlib, inspect, pkgutil, mliis_nb

    for m in pkgutil.iter_modules(mliis_nb.__path__):
        if m.name.startswith('_') or m.name in ('params', 'weights'):
            continue  # the old names of checks and distances (deprecated shims): their objects are documented there
        mod = importlib.import_module(f'mliis_nb.{m.name}')
        for n in getattr(mod, '__all__', []):
            assert f'<code>{n}</code>' in api, f'mliis_nb.{m.name}.{n} is missing from the API index'
            if inspect.isclass(getattr(mod, n)) or inspect.isfunction(getattr(mod, n)):
                assert re.search(rf'href="[^"]+#{re.escape(n.lower())}(_\d+)?"', api), (
                    f'mliis_nb.{m.name}.{n} has no documentation entry'
                )
