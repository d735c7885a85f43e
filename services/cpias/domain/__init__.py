"""The CPias domain: cases, their workflow and deadlines, who may see and act. Pure: no
FastAPI, SQLAlchemy or Kafka."""
