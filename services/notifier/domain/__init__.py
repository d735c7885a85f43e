"""The notifier's domain: who gets which message, its id, when it is due, what it may show.
Pure: no FastAPI, SQLAlchemy, Kafka, Jinja2 or SMTP."""
