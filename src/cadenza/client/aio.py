"""``AsyncClient``: ``Client`` on asyncio, call for call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from cadenza.client import _sending
from cadenza.client._protocol import Call, Calls, Pause, ProgressHook, Request
from cadenza.client.models import (
    Balance,
    Clip,
    Dialect,
    Lyrics,
    Midi,
    Persona,
    Playlist,
    Task,
    Video,
    Vox,
    Word,
)


class AsyncClient:
    """``Client`` for asyncio: the same calls, awaited, on a server of either dialect:
    ``sunocore`` (``X-API-Key``, ``/suno/submit/music``, ``/suno/fetch``) or ``acedata``
    (``Authorization: Bearer``, ``/suno/audios``, ``/suno/tasks``).

    Submits carry an ``Idempotency-Key`` and are retried with it after a dropped answer,
    a 429 or a 502/503/504, so a retry is never charged twice; errors are ``ApiError``
    with the server's code and message.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        dialect: Dialect = "sunocore",
        timeout_s: float = 120.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.calls = Calls(dialect)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.dialect = dialect
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._auth = self.calls.auth_headers(api_key)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            headers={"User-Agent": _sending.user_agent(), "Accept": "application/json"},
            follow_redirects=True,
        )

    def in_dialect(self, dialect: Dialect) -> AsyncClient:
        """A client of the same server and key in another dialect (a server such as
        Cadenza speaks both); close it after use."""
        return AsyncClient(
            self.base_url,
            self.api_key,
            dialect=dialect,
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self, call: Call) -> Any:
        """Runs one of ``calls``' generators to its result."""
        answer: Any = None
        try:
            while True:
                step = call.send(answer)
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    answer = None
                else:
                    answer = await self._send(step)
        except StopIteration as done:
            return done.value

    async def _send(self, req: Request) -> Any:
        attempt = 0
        while True:
            try:
                with _sending.arguments(req, self._auth, self.timeout_s) as kwargs:
                    response = await self._http.request(**kwargs)
            except httpx.TransportError as exc:
                delay = _sending.retry_delay(req, attempt, self.retries, self.backoff_s, error=exc)
                if delay is None:
                    raise
            else:
                delay = _sending.retry_delay(
                    req, attempt, self.retries, self.backoff_s, response=response
                )
                if delay is None:
                    return _sending.decode(req, response)
            attempt += 1
            await asyncio.sleep(delay)

    # -- songs and edits: each answers the new task's id ------------------------------

    async def generate(
        self,
        prompt: str | None = None,
        *,
        lyrics: str | None = None,
        tags: str | None = None,
        title: str | None = None,
        negative_tags: str | None = None,
        instrumental: bool = False,
        model: str | None = None,
        seed: int | None = None,
        persona_id: str | None = None,
        vocal_gender: str | None = None,
        weirdness: float | None = None,
        style_influence: float | None = None,
    ) -> str:
        """A new song from a description (``prompt``) or ``lyrics``; the task id."""
        return str(
            await self.run(
                self.calls.generate(
                    prompt,
                    lyrics=lyrics,
                    tags=tags,
                    title=title,
                    negative_tags=negative_tags,
                    instrumental=instrumental,
                    model=model,
                    seed=seed,
                    persona_id=persona_id,
                    vocal_gender=vocal_gender,
                    weirdness=weirdness,
                    style_influence=style_influence,
                )
            )
        )

    async def extend(
        self,
        clip_id: str,
        continue_at: float,
        *,
        lyrics: str | None = None,
        tags: str | None = None,
        title: str | None = None,
        instrumental: bool = False,
        model: str | None = None,
    ) -> str:
        call = self.calls.extend(
            clip_id,
            continue_at,
            lyrics=lyrics,
            tags=tags,
            title=title,
            instrumental=instrumental,
            model=model,
        )
        return str(await self.run(call))

    async def cover(
        self,
        clip_id: str,
        *,
        tags: str | None = None,
        prompt: str | None = None,
        title: str | None = None,
        model: str | None = None,
    ) -> str:
        call = self.calls.cover(clip_id, tags=tags, prompt=prompt, title=title, model=model)
        return str(await self.run(call))

    async def concat(self, clip_id: str) -> str:
        return str(await self.run(self.calls.concat(clip_id)))

    async def remaster(
        self, clip_id: str, *, model: str | None = None, variation: str | None = None
    ) -> str:
        return str(await self.run(self.calls.remaster(clip_id, model=model, variation=variation)))

    async def stems(self, clip_id: str, *, full: bool = False) -> str:
        return str(await self.run(self.calls.stems(clip_id, full=full)))

    async def crop(
        self, clip_id: str, start_s: float, end_s: float, *, remove: bool = False
    ) -> str:
        return str(await self.run(self.calls.crop(clip_id, start_s, end_s, remove=remove)))

    async def speed(
        self,
        clip_id: str,
        multiplier: float,
        *,
        keep_pitch: bool = True,
        title: str | None = None,
    ) -> str:
        call = self.calls.speed(clip_id, multiplier, keep_pitch=keep_pitch, title=title)
        return str(await self.run(call))

    async def audios(self, action: str, **fields: Any) -> str:
        """Any ``/suno/audios`` action, fields as AceData names them; the task id."""
        return str(await self.run(self.calls.audios(action, **fields)))

    # -- tasks ------------------------------------------------------------------------

    async def get(self, task_id: str) -> Task:
        task: Task = await self.run(self.calls.get(task_id))
        return task

    async def get_many(self, task_ids: list[str]) -> list[Task]:
        tasks: list[Task] = await self.run(self.calls.get_many(task_ids))
        return tasks

    async def wait(
        self,
        task_id: str,
        *,
        on_progress: ProgressHook | None = None,
        timeout_s: float = 1800.0,
        interval_s: float = 2.0,
        raise_on_failure: bool = True,
    ) -> Task:
        """The task once it has ended (``TaskFailed`` if it failed, ``WaitTimeout``)."""
        call = self.calls.wait(
            task_id,
            on_progress=on_progress,
            timeout_s=timeout_s,
            interval_s=interval_s,
            raise_on_failure=raise_on_failure,
        )
        task: Task = await self.run(call)
        return task

    # -- tools and media --------------------------------------------------------------

    async def lyrics(self, prompt: str, *, seed: int | None = None) -> Lyrics:
        found: Lyrics = await self.run(self.calls.lyrics(prompt, seed=seed))
        return found

    async def video(self, clip_id: str, *, timeout_s: float = 1800.0) -> Video:
        found: Video = await self.run(self.calls.video(clip_id, timeout_s=timeout_s))
        return found

    async def midi(self, clip_id: str, *, task_id: str | None = None) -> Midi:
        found: Midi = await self.run(self.calls.midi(clip_id, task_id=task_id))
        return found

    async def wav(self, clip_id: str) -> str:
        return str(await self.run(self.calls.wav(clip_id)))

    async def words(self, clip_id: str) -> list[Word]:
        found: list[Word] = await self.run(self.calls.words(clip_id))
        return found

    async def style(self, tags: str) -> str:
        return str(await self.run(self.calls.style(tags)))

    async def create_persona(
        self,
        clip_id: str,
        name: str,
        *,
        description: str = "",
        vox: bool = False,
        vox_audio_id: str | None = None,
        vocal_start: float | None = None,
        vocal_end: float | None = None,
    ) -> Persona:
        call = self.calls.create_persona(
            clip_id,
            name,
            description=description,
            vox=vox,
            vox_audio_id=vox_audio_id,
            vocal_start=vocal_start,
            vocal_end=vocal_end,
        )
        found: Persona = await self.run(call)
        return found

    async def vox(
        self, clip_id: str, *, start_s: float | None = None, end_s: float | None = None
    ) -> Vox:
        found: Vox = await self.run(self.calls.vox(clip_id, start_s=start_s, end_s=end_s))
        return found

    async def voice_persona(self, audio_url: str, name: str, *, description: str = "") -> Persona:
        found: Persona = await self.run(
            self.calls.voice_persona(audio_url, name, description=description)
        )
        return found

    async def mashup_lyrics(self, lyrics_a: str, lyrics_b: str) -> Lyrics:
        found: Lyrics = await self.run(self.calls.mashup_lyrics(lyrics_a, lyrics_b))
        return found

    async def prompt_image(self, prompt: str) -> str:
        return str(await self.run(self.calls.prompt_image(prompt)))

    async def playlist(self, name: str, clip_ids: list[str]) -> Playlist:
        found: Playlist = await self.run(self.calls.playlist(name, clip_ids))
        return found

    async def balance(self) -> Balance:
        found: Balance = await self.run(self.calls.balance())
        return found

    async def upload_file(self, path: str | Path, *, timeout_s: float = 600.0) -> Clip:
        found: Clip = await self.run(self.calls.upload_file(Path(path), timeout_s=timeout_s))
        return found

    async def upload_url(self, audio_url: str) -> str:
        return str(await self.run(self.calls.upload_url(audio_url)))

    async def list_tasks(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        status: str | None = None,
        action: str | None = None,
    ) -> tuple[list[Task], int | None]:
        """The key's tasks, newest first, and the next page's offset (Cadenza's own API)."""
        call = self.calls.list_tasks(limit=limit, offset=offset, status=status, action=action)
        found: tuple[list[Task], int | None] = await self.run(call)
        return found

    async def download(self, url: str, dest: str | Path) -> Path:
        """Writes the media at ``url`` to ``dest``."""
        data: bytes = await self.run(self.calls.download(url))
        path = Path(dest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path
