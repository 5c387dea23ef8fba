"""Sphinx configuration of the polab book (``make book``): the executed notebook series,
the claims page and the algorithm reference, rendered by myst-nb with the book theme.

scripts/build_book.py copies this file next to the generated sources in ``build/book-src/``
and runs ``sphinx-build``; nothing here reaches the network: MathJax 3 comes from
sphinx-mathjax-offline's copy, plotly.js from the installed plotly package (the build script
puts it in ``_static``).
"""

project = "polab — a Policy-Optimization Lab"
author = "the polab authors"
copyright = "2026, the polab authors"

extensions = ["myst_nb", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks arrive executed (make run)
nb_merge_streams = True
suppress_warnings = ["mystnb.unknown_mime_type"]
exclude_patterns = ["_build"]
smartquotes = False  # keep quotes as written: names and code-like text in prose stay searchable

html_theme = "sphinx_book_theme"
html_title = "polab"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": True,
}
html_static_path = ["_static"]
html_js_files = [("plotly.min.js", {"priority": 100})]
html_css_files = ["polab.css"]
html_last_updated_fmt = None
