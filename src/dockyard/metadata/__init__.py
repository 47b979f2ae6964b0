"""Registry metadata in SQL (SQLAlchemy Core): SQLite on one machine, PostgreSQL to scale out."""
