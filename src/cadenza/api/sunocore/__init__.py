"""The sunocore dialect (seed 000): ``X-API-Key`` auth, ``{code, message, data}`` bodies."""
