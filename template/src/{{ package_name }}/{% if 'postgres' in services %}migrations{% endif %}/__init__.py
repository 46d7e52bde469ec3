"""Alembic's migrations of the service's database: `uv run alembic upgrade head`."""
