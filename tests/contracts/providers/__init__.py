"""One module a provider: `PROVIDER = Provider("<service>", build)` and the states its consumers name."""
