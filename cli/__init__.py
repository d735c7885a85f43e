"""The `iaspipe` command and the tools around the runtime: the local stack, the embedded
broker, tokens and accounts of the embedded default. Nothing in the runtime imports this."""
