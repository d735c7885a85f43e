"""Intake's domain: what a stored declaration is, who may see it, how its timeline grows.
Pure: no FastAPI, SQLAlchemy or Kafka."""
