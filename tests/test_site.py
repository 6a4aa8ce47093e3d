"""The docs site in a real browser: build it (or take the fresh one `make docs` left), serve it on
127.0.0.1, open every page in headless Chromium and fail on anything a reader would see broken.

Chromium is Debian's (`apt-get install chromium`, which `.ci/run` does); Playwright drives it (its own
browser download needs the network). The test skips only where Chromium cannot be installed.
"""
import functools, http.server, os, shutil, subprocess, sys, threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit, unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / 'tools' / 'build_docs.py'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run', '--disable-dev-shm-usage']
HOME_FIGURE = 'figures/demo_results.png'
SCREENSHOT_PAGE = 'losses.html'      # a notebook page with equations and show_doc entries


def _chromium() -> str | None:
    for name in ('chromium', 'chromium-browser'):
        if p := shutil.which(name): return p
    apt = shutil.which('apt-get')
    if apt and os.geteuid() == 0:     # as .ci/run does: Debian's package, no browser download
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        subprocess.run([apt, 'update', '-qq'], env=env, capture_output=True, timeout=300)
        subprocess.run([apt, 'install', '-y', '-qq', '--no-install-recommends', 'chromium', 'fonts-dejavu-core'],
                       env=env, capture_output=True, timeout=600)
        return shutil.which('chromium')
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


@pytest.fixture(scope='module')
def chromium():
    exe = _chromium()
    if not exe: pytest.skip('Chromium is not installed and cannot be installed here (needs root and apt-get: '
                            'apt-get install chromium)')
    return exe


def _build():
    r = subprocess.run([sys.executable, str(BUILD), '--if-stale'], cwd=REPO, capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, NO_MKDOCS_2_WARNING='1'))
    print(r.stdout[-3000:])
    assert r.returncode == 0, f'the docs build failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'


@pytest.fixture(scope='module')
def site():
    "The built site (rebuilt unless `_docs/` was built from exactly these inputs)."
    _build()
    return REPO / '_docs'


@pytest.fixture(scope='module')
def server(site):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Handler, directory=str(site)))
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown(); srv.server_close()


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


def test_site_in_browser(site, server, chromium, tmp_path):
    from playwright.sync_api import sync_playwright
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html') if p.name != '404.html')
    assert len(pages) >= 10 and 'index.html' in pages and 'api.html' in pages, pages
    problems, seen, links = [], {}, []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        ctx = browser.new_context(viewport={'width': 1280, 'height': 900})
        page = ctx.new_page()
        current = {'url': ''}
        def note(kind, msg): problems.append(f'{current["url"]}: {kind}: {msg}')
        page.on('console', lambda m: note('console error', m.text) if m.type == 'error' else None)
        page.on('pageerror', lambda e: note('page error', e))
        aborted = []   # cancelled because the test moved on (e.g. the search worker): checked on disk below
        page.on('requestfailed', lambda r: aborted.append((current['url'], r.url)) if 'ERR_ABORTED' in (r.failure or '')
                else note('failed request', f'{r.url} ({r.failure})'))
        page.on('response', lambda r: note(f'HTTP {r.status}', r.url)
                if r.status >= 400 and not urlsplit(r.url).path.endswith('favicon.ico') else None)
        for rel in pages:
            url = urljoin(server, rel)
            current['url'] = rel
            page.goto(url, wait_until='load')
            page.wait_for_function('() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)')
            page.evaluate('() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise.then(() => true) : true')
            d = page.evaluate(_COLLECT)
            seen[rel] = d
            for img in d['imgs']:
                if not img['ok']: problems.append(f'{rel}: image not shown: {img["src"]}')
            if '$$' in d['text']: problems.append(f'{rel}: raw $$ in the visible text (maths not rendered)')
            for e in d['merr']: problems.append(f'{rel}: MathJax error: {e}')
            for u in d['external'] + d['cdn']: problems.append(f'{rel}: refers to a resource outside the site: {u}')
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
        if not href.startswith(server) or (u.path, u.fragment) in checked: continue
        checked.add((u.path, u.fragment))
        target = unquote(u.path)[1:] or 'index.html'
        if target.endswith('/'): target += 'index.html'
        if not (site / target).is_file():
            problems.append(f'{rel}: link to a missing page: {href}'); continue
        if u.fragment and target in seen and unquote(u.fragment) not in seen[target]['ids']:
            problems.append(f'{rel}: link to a missing anchor: {href}')
    assert sum(d['math'] for d in seen.values()) > 20, 'no rendered maths on the site'
    assert seen[SCREENSHOT_PAGE]['math'] > 0, f'no rendered maths on {SCREENSHOT_PAGE}'
    assert not problems, f'{len(problems)} problems:\n' + '\n'.join(p[:300] for p in dict.fromkeys(problems))
    print(f'{len(pages)} pages, {len(checked)} distinct internal links checked, '
          f'{sum(d["math"] for d in seen.values())} formulas rendered')


def test_site_has_every_notebook_and_api_entry(site):
    "Every notebook has its page; every exported function and class has an entry (an anchor) on the site."
    import re
    _build()   # again if a notebook appeared since the site was built (others edit nbs/ while this runs)
    htmls = {p.relative_to(site).as_posix() for p in site.rglob('*.html')}
    for nb in sorted((REPO / 'nbs').rglob('*.ipynb')):
        if '.ipynb_checkpoints' in nb.parts: continue
        rel = nb.relative_to(REPO / 'nbs')
        name = re.sub(r'^\d+[_-]', '', rel.stem)
        assert (rel.parent / f'{name}.html').as_posix() in htmls, f'no page for {rel}'
    api = (site / 'api.html').read_text(encoding='utf-8')
    import importlib, inspect, pkgutil, mliis_nb
    for m in pkgutil.iter_modules(mliis_nb.__path__):
        if m.name.startswith('_'): continue
        mod = importlib.import_module(f'mliis_nb.{m.name}')
        for n in getattr(mod, '__all__', []):
            assert f'<code>{n}</code>' in api, f'mliis_nb.{m.name}.{n} is missing from the API index'
            if inspect.isclass(getattr(mod, n)) or inspect.isfunction(getattr(mod, n)):
                assert re.search(rf'href="[^"]+#{re.escape(n.lower())}(_\d+)?"', api), f'mliis_nb.{m.name}.{n} has no documentation entry'
