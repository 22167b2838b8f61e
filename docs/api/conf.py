"""Sphinx configuration of the API reference (built offline: `sphinx-build -W -b html docs/api build-docs`).

Sphinx with autodoc + napoleon, because the reference is generated from the docstrings the package
already has (NumPy/Google-style sections, shapes and units in prose) with no extra markup, builds with
one pip package and no network, and its warnings-as-errors mode catches broken cross-references."""
project = "quaton_fast"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["quaton_fast._C"]
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_ivar = True      # 'Attributes' as fields: dataclass members are not documented twice
html_theme = "alabaster"
exclude_patterns = []
suppress_warnings = []


def _escape_pipes(app, what, name, obj, options, lines):
    """Docstrings write absolute values as |x|, which reStructuredText reads as a substitution."""
    import re
    for i, line in enumerate(lines):
        if "|" in line and not line.lstrip().startswith(("+", "|")):      # grid tables and line blocks keep theirs
            lines[i] = re.sub(r"(?<!\\)\|", r"\\|", line)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_pipes)
