"""Cadenza's own JSON API under ``/api/v1``: listings of a key's objects, its ledger and
usage, task events as server-sent events, and (admin keys) keys, credits and prices.

Its errors are the sunocore envelope ``{"code", "message", "data": null}``, mapped from
domain errors in ``cadenza.api.sunocore.errors`` like every route outside AceData's.
"""
