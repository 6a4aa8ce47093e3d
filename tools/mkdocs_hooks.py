"""mkdocs hooks for the notebook pages (tools/build_docs.py adds this file to the generated config).

mkdocs-jupyter gives a heading the id slug(its text, code included) but builds the page's table of
contents from a Markdown rendering of the notebook (code spans dropped, repeated headings numbered
`_1`, `_2`), so the two disagree on headings with code or repeated text. Here the ids in the page are
made unique the way Python-Markdown numbers them and the table of contents is rebuilt from the page's
own headings, so every entry points at an element that exists. The nbconvert template's MathJax 2 and
mermaid loaders (empty or CDN URLs) are removed: the site serves MathJax 3 itself.
"""

import html as _html
import re

from mkdocs.structure.toc import get_toc

TOC_DEPTH = 3
_HEADING = re.compile(r'<h([1-6])([^>]*)\bid="([^"]*)"([^>]*)>(.*?)</h\1>', re.S)
_JUNK = [
    re.compile(p, re.S)
    for p in (
        r'<!-- Load mathjax -->\s*<script src="[^"]*">\s*</script>',
        r'<!-- MathJax configuration -->\s*<script type="text/x-mathjax-config">.*?</script>\s*<!-- End of mathjax configuration -->',
        r'<script type="module">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*</script>',
    )
]


def _text(inner: str) -> str:
    inner = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', '', inner, flags=re.S)
    return _html.unescape(re.sub(r'<[^>]+>', '', inner)).strip()


def unique_ids(content: str):
    "Number repeated heading ids (x, x_1, x_2, ...) and return the content and its headings"
    seen, heads = {}, []

    def sub(m):
        level, pre, hid, post, inner = m.groups()
        n = seen.get(hid, 0)
        seen[hid] = n + 1
        new = hid if n == 0 else f'{hid}_{n}'
        if new != hid:
            inner = inner.replace(f'href="#{hid}"', f'href="#{new}"')
        heads.append((int(level), new, _text(inner)))
        return f'<h{level}{pre}id="{new}"{post}>{inner}</h{level}>'

    return _HEADING.sub(sub, content), heads


def toc_tokens(heads):
    root = {'level': 0, 'children': []}
    stack = [root]
    for level, hid, text in heads:
        if level > TOC_DEPTH:
            continue
        tok = {'level': level, 'id': hid, 'name': _html.escape(text), 'children': []}
        while stack[-1]['level'] >= level:
            stack.pop()
        stack[-1]['children'].append(tok)
        stack.append(tok)
    return root['children']


def on_page_content(html, page, config, files):
    if not page.file.src_path.endswith('.ipynb'):
        return html
    for p in _JUNK:
        html = p.sub('', html)
    html, heads = unique_ids(html)
    page.toc = get_toc(toc_tokens(heads))
    return html
