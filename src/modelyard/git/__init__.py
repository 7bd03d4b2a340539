"""git over HTTP: a bare mirror per repo (a cache of the database), C git for the wire protocol, pushes imported."""
