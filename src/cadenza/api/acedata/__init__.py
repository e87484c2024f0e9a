"""The AceData dialect (seed 002): ``POST /suno/audios`` and its auxiliary endpoints.

``schemas`` reads bodies, ``requests`` turns them into the dialect-free requests the
command layer consumes, ``answers`` renders domain views, ``errors`` maps domain errors to
the dialect's envelope on its own routes only.
"""
