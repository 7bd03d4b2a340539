"""Domain services: plain Python over db and storage; no HTTP."""
