"""The API's store: SQLAlchemy 2 models, engines for SQLite and PostgreSQL, migrations."""
