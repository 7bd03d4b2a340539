"""HF-compatible JSON routes, one module per resource."""
