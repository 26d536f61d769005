"""The session index's storage: SQLite (embedded, the default) or PostgreSQL (several replicas),
through SQLAlchemy Core on async drivers (aiosqlite, asyncpg).

INTERFACE ONLY: bodies to be written.
"""
