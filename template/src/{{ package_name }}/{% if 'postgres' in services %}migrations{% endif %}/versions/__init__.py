"""One module per schema revision; Alembic orders them by their down_revision."""
