"""One module a consumer: `CONSUMER = Consumer("<service>")` and its expectations (see tools/contracts.py)."""
