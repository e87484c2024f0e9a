"""Configuration, read from ``CADENZA_*`` environment variables (nested with ``__``).

The defaults are the embedded setup: SQLite and media under the data directory, an
in-process worker pool, in-memory limits. Each backend switches with one variable.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class S3Settings(BaseModel):
    bucket: str = "cadenza"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    #: Public base URL of the bucket; without it clients get presigned GET URLs.
    public_base_url: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CADENZA_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("./data")
    #: Empty means a SQLite file under the data directory.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    #: Base of every link handed to clients (``https://music.example.com``); empty means the
    #: address each request reached, as forwarded by a trusted proxy (outside a request:
    #: ``http://{host}:{port}``).
    public_url: str = ""
    #: Peers whose ``X-Forwarded-Proto``/``X-Forwarded-Host``/``Forwarded`` headers are
    #: believed: comma-separated addresses or networks, or ``*``.
    forwarded_allow_ips: str = "127.0.0.1,::1"

    queue: Literal["inprocess", "celery"] = "inprocess"
    broker_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "cadenza"
    #: Queues a ``cadenza worker`` consumes; empty means the default queue plus this
    #: worker's own queue ``<queue_name>.worker.<worker_name>`` (so follow-up tasks reach
    #: the machine that made the original).
    worker_queues: list[str] = Field(default_factory=list)
    worker_name: str = Field(default_factory=socket.gethostname)

    storage: Literal["local", "s3"] = "local"
    #: Local media root; empty means ``<data_dir>/media``.
    media_dir: str = ""
    s3: S3Settings = Field(default_factory=S3Settings)

    limits: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"

    #: Tasks run at once: in-process worker processes, or Celery's concurrency. 0 means
    #: half the CPU cores and at least 2 in process (see ``resolved_workers``), one per core
    #: with Celery.
    workers: int = 0
    #: Clips of one task rendered in parallel by the built-in engine; 0 means both clips at
    #: once wherever there are two cores.
    compose_workers: int = 0
    #: Start the in-process workers and the engine's render processes with the server, so
    #: the first task does not wait seconds for imports and the SoundFont.
    warm_start: bool = True
    task_timeout_s: int = 900
    max_attempts: int = 3
    reaper_interval_s: float = 15.0
    #: A running task beats this often; one silent for ``stalled_after_s`` lost its worker
    #: and is handed out again (the attempt counts toward ``max_attempts``).
    heartbeat_interval_s: float = 10.0
    stalled_after_s: float = 120.0
    #: Task events (``task_events``) of tasks finished longer ago than this are deleted by
    #: the reaper.
    event_retention_days: float = Field(default=7.0, gt=0)
    #: Seconds between two looks for callbacks due (each API process sends them; 0: none
    #: from this process).
    callback_interval_s: float = Field(default=1.0, ge=0)
    #: Seconds a verified key is remembered; revocation takes effect within this time.
    auth_cache_ttl_s: float = 1.0

    #: Audio uploads: largest file (bytes), slot lifetime (s), longest audio (s).
    upload_max_bytes: int = 50 * 1024 * 1024
    upload_ttl_s: int = 900
    upload_max_duration_s: float = 480.0
    #: Longest ``POST /suno/uploads/audio-url`` waits for the upload's task when the client
    #: asks ``wait_audio`` (seconds); it answers the task id either way.
    wait_audio_s: float = 60.0
    #: Longest ``GET /suno/act/mp4`` waits for a video being rendered before answering
    #: "processing" with the task id to poll (seconds).
    video_wait_s: float = 25.0
    #: Longest the download of a client-given audio URL (AceData's ``/suno/upload`` and
    #: ``/suno/voices``) may take, all of it (seconds); its size cap is ``upload_max_bytes``.
    remote_fetch_timeout_s: float = Field(default=60.0, gt=0)

    #: Submits run at once per API process (their database work and checks, on threads);
    #: more wait their turn in arrival order.
    submit_threads: int = Field(default=8, ge=1)
    #: Longest an AceData ``/suno/audios`` request is held for its task in the default
    #: (blocking) mode before answering ``504 timeout`` (the task goes on; poll it with
    #: ``/suno/tasks``). Under the 180 s of the slowest official client.
    acedata_wait_s: float = Field(default=170.0, gt=0)

    #: Task answers kept rendered per API process, reused while their task is unchanged
    #: (0: render every poll).
    poll_cache_entries: int = Field(default=10_000, ge=0)
    #: SQLite: how often (milliseconds) the API process checks whether another connection
    #: committed, to learn which tasks changed (0: polls read each task's revision).
    sqlite_change_poll_ms: float = Field(default=5.0, ge=0, le=1000)
    #: Largest JSON request body (bytes); bigger ones are refused with 413 unread. The
    #: upload form has its own cap (``upload_max_bytes``).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    #: Let client-given URLs (``callback_url``, remote audio) reach loopback, private and
    #: link-local addresses. For local development and tests only: on a server it lets any
    #: API key make Cadenza call its own network.
    allow_private_urls: bool = False

    #: Seals the credentials of upstream channels in the database (any string; keep it
    #: secret and stable: channels added under another one cannot be used).
    channel_secret: str = ""
    #: Relayed tasks followed at once by one process (each waits on its upstream on a
    #: thread of its own, holding no render slot).
    relay_threads: int = Field(default=256, ge=1)
    #: Seconds between two polls of an upstream task.
    relay_poll_s: float = Field(default=1.0, gt=0)
    #: Largest media file mirrored from an upstream (bytes), and the longest its download
    #: may take (seconds).
    relay_media_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    relay_media_timeout_s: float = Field(default=120.0, gt=0)
    #: Where channels' circuits, in-flight caps and counters live: ``memory`` (this
    #: process's own) or ``redis`` (``redis_url``, shared by every relaying process).
    #: Empty follows ``limits``: a deployment that shares its rate limits shares these.
    channel_health: Literal["memory", "redis", ""] = ""

    #: A directory of moderation lists (``artists.txt``, ``producer_tags.txt``,
    #: ``inappropriate.txt``, ``copyrighted_lyrics.txt``, one entry a line): each file there
    #: replaces the shipped list of that name (an empty file turns it off). Empty means the
    #: shipped lists (``cadenza/domain/moderation_lists``).
    moderation_dir: str = ""

    log_level: str = "INFO"
    log_json: bool = True
    #: FastAPI's own OpenTelemetry spans, metrics and logs, for a process where an
    #: OpenTelemetry SDK is configured. Off, FastAPI skips its per-request checks.
    opentelemetry: bool = False

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cadenza.db').resolve()}"

    def resolved_channel_health(self) -> Literal["memory", "redis"]:
        return self.channel_health or self.limits

    def resolved_media_dir(self) -> Path:
        return Path(self.media_dir) if self.media_dir else self.data_dir / "media"

    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def resolved_workers(self) -> int:
        """In process, a music task renders its two clips on two cores, so half as many
        tasks as cores keep every core busy; at least two, so a quick tool task (a crop,
        a concat) never waits behind a render. Celery's prefork workers render clips one
        by one, so there it is one task per core."""
        if self.workers > 0:
            return self.workers
        cores = max(1, os.cpu_count() or 1)
        return cores if self.queue == "celery" else max(2, cores // 2)

    def resolved_compose_workers(self) -> int:
        if self.compose_workers > 0:
            return self.compose_workers
        return min(2, max(1, os.cpu_count() or 1))
