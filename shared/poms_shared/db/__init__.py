"""Database layer: SQLAlchemy models, engine/session helpers, outbox and inbox."""
