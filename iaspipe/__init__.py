"""Runtime shared by the services (Kafka loop, outbox relay, database, HTTP basics) and the
`iaspipe` command. Services share this plumbing and `schemas`, never each other's code."""
