"""A typed Python client for music generation servers of the sunocore and AceData
dialects (Cadenza or any other): ``Client`` blocks, ``AsyncClient`` awaits.

    from cadenza.client import Client

    with Client("http://127.0.0.1:8000", api_key="sk_...") as client:
        task_id = client.generate("a calm piano song", instrumental=True)
        task = client.wait(task_id, on_progress=lambda t: print(t.progress))
        client.download(task.clips[0].audio_url, "song.mp3")
"""

from cadenza.client.aio import AsyncClient
from cadenza.client.errors import ApiError, ClientError, TaskFailed, UnsupportedCall, WaitTimeout
from cadenza.client.models import (
    Balance,
    Clip,
    Dialect,
    Lyrics,
    Midi,
    Persona,
    Playlist,
    Task,
    TaskStatus,
    Video,
    Vox,
    Word,
)
from cadenza.client.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Balance",
    "Client",
    "ClientError",
    "Clip",
    "Dialect",
    "Lyrics",
    "Midi",
    "Persona",
    "Playlist",
    "Task",
    "TaskFailed",
    "TaskStatus",
    "UnsupportedCall",
    "Video",
    "Vox",
    "WaitTimeout",
    "Word",
]
