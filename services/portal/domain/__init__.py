"""The portal's domain: who is signed in and for how long, when a username is locked out,
what the declaration form holds and how it becomes the contract's body. Pure: no FastAPI,
SQLAlchemy or HTTP client."""
