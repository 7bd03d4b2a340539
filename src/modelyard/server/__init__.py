"""HTTP edge: the only package that imports Starlette/Jinja2."""
