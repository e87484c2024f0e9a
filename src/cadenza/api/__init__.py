"""The HTTP API: one FastAPI app, one router and error mapping per dialect."""
