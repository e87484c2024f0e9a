"""A small real sunocore upstream over HTTP that misbehaves on demand.

It makes tasks (songs, lyrics, and in AceData's dialect a clip's stems or WAV:
deduplicated by Idempotency-Key, as a real one does), answers polls with progress, serves
each clip's audio and cover and each export's WAV, and can be told to refuse (500, 429),
hang after accepting, answer garbage, lose a task, or fail it.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AUDIO = b"ID3" + bytes(range(256)) * 8
COVER = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(1600))
    return out.getvalue()


WAV = _wav()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a hanging answer is expected here."""


#: Seed 000's edit requests, and the kind of task each makes.
EDITS = {
    "/suno/submit/concat": "concat",
    "/api/crop": "crop",
    "/suno/submit/speed-adjust": "speed_adjust",
}


@dataclass
class Behaviour:
    #: Submits answered with this HTTP status (before any task is made); 0: none.
    submit_status: int = 0
    #: Make the task, then hold the answer this long (seconds), the first time a key is used.
    hang_after_accept_s: float = 0.0
    #: Make the task, then answer 200 with a body that is not JSON, the first time.
    garbage_after_accept: bool = False
    #: Polls before the task ends; each one moves its progress.
    polls_to_finish: int = 3
    #: The task ends FAILURE with this reason.
    fail_reason: str = ""
    #: Polls answer that there is no such task.
    lose_tasks: bool = False
    #: The first this many polls answer a body that is not JSON.
    garbage_polls: int = 0
    #: Word-timing reads answered with this HTTP status; 0: the words.
    timing_status: int = 0


def sung_words(clip_id: str) -> list[dict[str, Any]]:
    """The words the upstream says it sang in ``clip_id``, as Suno aligns them."""
    return [
        {"word": "Hello ", "success": True, "start_s": 1.25, "end_s": 1.5, "p_align": 0.93},
        {"word": f"{clip_id[:6]}\n", "success": True, "start_s": 1.5, "end_s": 2.0, "p_align": 1},
    ]


@dataclass
class UpstreamTask:
    id: str
    body: dict[str, Any]
    polls: int = 0
    lyrics: bool = False
    #: What it makes: "music", "lyrics", "stems", "all_stems", "upsample" (a remaster),
    #: "wav", or an edit ("concat", "crop", "speed_adjust").
    kind: str = "music"

    @property
    def title(self) -> str:
        return f"Song of {self.body.get('prompt') or ''}"[:80]

    @property
    def text(self) -> str:
        return f"[Verse]\n{self.body.get('prompt') or ''}\n[Chorus]\nla la la"


@dataclass
class FaultUpstream:
    behaviour: Behaviour = field(default_factory=Behaviour)
    key: str = "sk_upstream"
    tasks: dict[str, UpstreamTask] = field(default_factory=dict)
    by_idempotency: dict[str, str] = field(default_factory=dict)
    submits: int = 0
    polls: int = 0
    #: The clip ids its word timings were asked for, in order.
    timings: list[str] = field(default_factory=list)
    #: Its clips sang nothing (an instrumental): their timings are an empty list.
    sing_nothing: bool = False
    #: The most tasks it held unfinished when a new one arrived.
    max_open: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultUpstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.headers.get("Authorization") != f"Bearer {upstream.key}":
                    self._send(401, b'{"code":"unauthorized","message":"bad key"}')
                    return
                if self.path == "/suno/submit/music":
                    self._submit(body, acedata=False)
                elif self.path == "/suno/audios":
                    kind = {
                        "stems": "stems",
                        "all_stems": "all_stems",
                        "remaster": "upsample",
                        "concat": "concat",
                        "replace_section": "replace_section",
                        "mashup": "mashup",
                    }.get(str(body.get("action")), "music")
                    self._submit(body, acedata=True, kind=kind)
                elif self.path in EDITS:
                    self._submit(body, acedata=False, kind=EDITS[self.path])
                elif self.path == "/suno/wav":
                    self._submit(body, acedata=True, kind="wav")
                elif self.path == "/suno/submit/lyrics":
                    self._submit(body, acedata=False, lyrics=True)
                elif self.path == "/suno/lyrics":
                    self._submit(body, acedata=True, lyrics=True)
                elif self.path == "/suno/fetch":
                    self._fetch(body)
                elif self.path == "/suno/tasks":
                    self._retrieve(body)
                elif self.path == "/suno/timing":
                    self._timing(str(body.get("audio_id") or ""), acedata=True)
                else:
                    self._send(404, b"{}")

            def do_GET(self) -> None:
                if self.path.startswith("/api/get_aligned_lyrics_v3?song_id="):
                    if self.headers.get("Authorization") != f"Bearer {upstream.key}":
                        self._send(401, b'{"code":"unauthorized","message":"bad key"}')
                        return
                    self._timing(self.path.split("=", 1)[1], acedata=False)
                elif self.path.endswith(".mp3"):
                    self._send(200, AUDIO, "audio/mpeg")
                elif self.path.endswith(".wav"):
                    self._send(200, WAV, "audio/wav")
                elif self.path.endswith(".png"):
                    self._send(200, COVER, "image/png")
                else:
                    self._send(404, b"")

            def _timing(self, clip_id: str, *, acedata: bool) -> None:
                upstream.timings.append(clip_id)
                if upstream.behaviour.timing_status:
                    self._send(upstream.behaviour.timing_status, b'{"message":"no timing"}')
                    return
                words = {"aligned_words": [] if upstream.sing_nothing else sung_words(clip_id)}
                answer = (
                    {"success": True, "task_id": "t-timing", "data": words}
                    if acedata
                    else {"code": "success", "message": "", "data": words}
                )
                self._send(200, json.dumps(answer).encode())

            def _submit(
                self,
                body: dict[str, Any],
                *,
                acedata: bool,
                lyrics: bool = False,
                kind: str = "music",
            ) -> None:
                b = upstream.behaviour
                with upstream.lock:
                    upstream.submits += 1
                    if b.submit_status:
                        status = b.submit_status
                    else:
                        status = 0
                        key = self.headers.get("Idempotency-Key") or uuid.uuid4().hex
                        first = key not in upstream.by_idempotency
                        if first:
                            open_now = sum(
                                t.polls < b.polls_to_finish for t in upstream.tasks.values()
                            )
                            upstream.max_open = max(upstream.max_open, open_now)
                            task = UpstreamTask(
                                str(uuid.uuid4()),
                                body,
                                lyrics=lyrics,
                                kind="lyrics" if lyrics else kind,
                            )
                            upstream.tasks[task.id] = task
                            upstream.by_idempotency[key] = task.id
                        task_id = upstream.by_idempotency[key]
                        made = upstream.tasks[task_id]
                if status:
                    self._send(status, b'{"code":"error","message":"unavailable","data":null}')
                    return
                if first and b.hang_after_accept_s:
                    time.sleep(b.hang_after_accept_s)
                if first and b.garbage_after_accept:
                    self._send(200, b"<html>gateway says hello</html>", "text/html")
                    return
                answer: dict[str, Any] = (
                    {"success": True, "task_id": task_id, "data": []}
                    if acedata
                    else {"code": "success", "message": "", "data": task_id}
                )
                if acedata and lyrics:  # AceData answers its lyrics at once
                    answer["data"] = [upstream.lyrics_item(made)]
                self._send(200, json.dumps(answer).encode())

            def _retrieve(self, body: dict[str, Any]) -> None:
                ids = body.get("ids") if body.get("action") == "retrieve_batch" else None
                with upstream.lock:
                    upstream.polls += 1
                    records = []
                    for task_id in ids if ids is not None else [body.get("id")]:
                        task = upstream.tasks.get(str(task_id))
                        if task is None or upstream.behaviour.lose_tasks:
                            continue
                        task.polls += 1
                        records.append(upstream.record(task))
                if ids is not None:
                    batch = {"items": records, "count": len(records)}
                    self._send(200, json.dumps(batch).encode())
                elif not records:
                    self._send(404, b'{"success":false,"error":{"code":"not_found"}}')
                else:
                    self._send(200, json.dumps(records[0]).encode())

            def _fetch(self, body: dict[str, Any]) -> None:
                out = []
                with upstream.lock:
                    upstream.polls += 1
                    garbage = upstream.polls <= upstream.behaviour.garbage_polls
                if garbage:
                    self._send(200, b"<html>busy</html>", "text/html")
                    return
                with upstream.lock:
                    for task_id in body.get("ids") or []:
                        task = upstream.tasks.get(task_id)
                        if task is None or upstream.behaviour.lose_tasks:
                            continue
                        task.polls += 1
                        out.append(upstream.render(task))
                self._send(200, json.dumps({"code": "success", "data": out}).encode())

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def render(self, task: UpstreamTask) -> dict[str, Any]:
        b = self.behaviour
        done = task.polls >= b.polls_to_finish
        status = "IN_PROGRESS"
        if done:
            status = "FAILURE" if b.fail_reason else "SUCCESS"
        progress = 100 if done else int(100 * task.polls / (b.polls_to_finish + 1))
        rendered = {
            "task_id": task.id,
            "action": "LYRICS" if task.lyrics else "MUSIC",
            "status": status,
            "fail_reason": b.fail_reason if done else "",
            "progress": f"{progress}%",
        }
        if task.lyrics:
            ready = status == "SUCCESS"
            lyrics = {
                "id": task.id,
                "status": "complete" if ready else "streaming",
                "title": task.title if ready else "",
                "text": task.text if ready else "",
            }
            return {**rendered, "data": lyrics}
        clips = []
        for n in range(24 if task.kind == "all_stems" else 2):
            ready = status == "SUCCESS"
            clips.append(
                {
                    "id": f"{task.id}-{n}",
                    "status": "complete" if ready else "streaming",
                    "audio_url": f"{self.base}/media/{task.id}-{n}.mp3" if ready else "",
                    "image_url": f"{self.base}/media/{task.id}-{n}.png" if ready else "",
                    "image_large_url": "",
                    "title": task.body.get("title") or "",
                    "tags": task.body.get("tags") or "",
                    "lyric": task.body.get("prompt") or "",
                    "duration": 12.5 if ready else None,
                }
            )
        return {**rendered, "data": clips}

    def lyrics_item(self, task: UpstreamTask) -> dict[str, Any]:
        """A lyrics task's written lyrics, as AceData's ``/suno/lyrics`` lists them."""
        return {"text": task.text, "title": task.title, "status": "complete", "tags": []}

    def record(self, task: UpstreamTask) -> dict[str, Any]:
        """The task as AceData's ``/suno/tasks`` shows it."""
        rendered = self.render(task)
        state = {"SUCCESS": "complete", "FAILURE": "failed"}.get(rendered["status"], "running")
        record: dict[str, Any] = {
            "id": task.id,
            "state": state,
            "progress": rendered["progress"],
            "request": task.body,
        }
        if state == "complete" and task.lyrics:
            data = [self.lyrics_item(task)]
            record["response"] = {"success": True, "task_id": task.id, "data": data}
        elif state == "complete" and task.kind == "wav":
            data = [{"file_url": f"{self.base}/media/{task.id}.wav"}]
            record["response"] = {"success": True, "task_id": task.id, "data": data}
        elif state == "complete":
            clips = [{**c, "style": c["tags"], "state": "succeeded"} for c in rendered["data"]]
            record["response"] = {"success": True, "task_id": task.id, "data": clips}
        elif state == "failed":
            error = {"code": "api_error", "message": rendered["fail_reason"]}
            record["response"] = {"success": False, "task_id": task.id, "error": error}
        return record

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
