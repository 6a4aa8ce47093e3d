"""README.md is made from nbs/index.ipynb (nbdev_readme needs quarto, which cannot be installed here).

Usage: python tools/make_readme.py [--check]
"""

import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]


def render() -> str:
    nb = json.loads((root / 'nbs' / 'index.ipynb').read_text(encoding='utf-8'))
    parts = []
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':
            parts.append(src)
        elif cell['cell_type'] == 'code' and src.strip() and not src.lstrip().startswith('#|'):
            parts.append('```python\n' + src + '\n```')
    text = '\n\n'.join(parts).strip() + '\n'
    return '<!-- made from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n' + text


if __name__ == '__main__':
    text = render()
    readme = root / 'README.md'
    if '--check' in sys.argv:
        if readme.read_text(encoding='utf-8') != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py`')
    else:
        readme.write_text(text, encoding='utf-8')
