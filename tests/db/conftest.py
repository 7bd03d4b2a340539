"""tests/db: the hub on PostgreSQL. The ``postgres_url`` and ``pg_cluster`` fixtures live in tests/_postgres.py
(registered for every test by tests/conftest.py)."""
