// MathJax 3, served from this site (js/mathjax/, copied from the npm package by tools/build_docs.py).
// Notebook pages keep $...$ and $$...$$ in their HTML; Markdown pages use arithmatex's \(...\) and \[...\].
window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: true,
    processEnvironments: true,
    tags: 'ams'
  },
  options: {
    ignoreHtmlClass: 'tex2jax_ignore',
    processHtmlClass: 'tex2jax_process|arithmatex'
  },
  svg: { fontCache: 'global' }
};
