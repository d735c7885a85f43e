"""HTTP basics every service shares: problem answers, middleware, health, audit, serving."""
