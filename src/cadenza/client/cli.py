"""The client side of the ``cadenza`` command: ``generate``, ``tasks`` and ``fetch``
against any server of either dialect, with the key and server from options or
``CADENZA_API_KEY`` / ``CADENZA_SERVER``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cadenza.client.errors import ClientError
from cadenza.client.models import Clip, Dialect, Task
from cadenza.client.sync import Client

console = Console()
err_console = Console(stderr=True)

ServerOption = Annotated[
    str,
    typer.Option(
        "--server", envvar="CADENZA_SERVER", help="Server URL, e.g. http://127.0.0.1:8000."
    ),
]
KeyOption = Annotated[
    str, typer.Option("--key", envvar="CADENZA_API_KEY", help="API key.", show_default=False)
]
DialectOption = Annotated[
    str,
    typer.Option(
        "--dialect",
        envvar="CADENZA_DIALECT",
        help="sunocore (X-API-Key, /suno/submit/music) or acedata (Bearer, /suno/audios).",
    ),
]
DEFAULT_SERVER = "http://127.0.0.1:8000"


def _dialect(name: str) -> Dialect:
    if name == "sunocore":
        return "sunocore"
    if name == "acedata":
        return "acedata"
    raise _fail(f"unknown dialect '{name}' (sunocore or acedata)")


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=1)


@contextmanager
def _client(server: str, key: str, dialect: str) -> Iterator[Client]:
    """A client; every client error ends the command with its message."""
    if not key:
        raise _fail("no API key: give --key or set CADENZA_API_KEY")
    try:
        with Client(server, key, dialect=_dialect(dialect)) as client:
            yield client
    except ClientError as exc:
        raise _fail(str(exc)) from None


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_")[:80] or "file"


@contextmanager
def _progress_bar(label: str) -> Iterator[Any]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(label, total=100)

        def update(task: Task) -> None:
            progress.update(bar, completed=task.progress, description=f"{label} {task.status}")

        yield update


def _wait(client: Client, task_id: str, label: str) -> Task:
    with _progress_bar(label) as update:
        return client.wait(task_id, on_progress=update, interval_s=1.0)


def _save_clip(
    client: Client,
    clip: Clip,
    task: Task,
    out: Path,
    *,
    midi: bool,
    video: bool,
    stems: bool,
    dialect: str,
) -> list[Path]:
    """What was asked of one clip, into ``out/<clip_id>/``."""
    folder = out / clip.id
    saved: list[Path] = []
    if clip.audio_url:
        saved.append(client.download(clip.audio_url, folder / "song.mp3"))
    if clip.image_url:
        saved.append(client.download(clip.image_url, folder / "cover.png"))
    if clip.lyrics:
        (folder / "lyrics.txt").write_text(clip.lyrics + "\n", encoding="utf-8")
        saved.append(folder / "lyrics.txt")
    if midi:
        path = folder / "song.mid"
        path.write_bytes(client.midi(clip.id, task_id=task.id).to_bytes())
        saved.append(path)
    if video:
        made = client.video(clip.id)
        saved.append(client.download(made.video_url, folder / "video.mp4"))
    if stems:
        saved.extend(_save_stems(client, clip, folder / "stems", dialect))
    return saved


def _save_stems(client: Client, clip: Clip, folder: Path, dialect: str) -> list[Path]:
    """Stems come from AceData's stems call; a sunocore server that also speaks AceData
    (Cadenza does) is asked in that dialect, with the same key."""
    if dialect == "acedata":
        task = _wait(client, client.stems(clip.id), f"stems of {clip.id[:8]}")
    else:
        with client.in_dialect("acedata") as splitter:
            task = _wait(splitter, splitter.stems(clip.id), f"stems of {clip.id[:8]}")
    saved = []
    for stem in task.clips:
        name = _safe_name(stem.title.rsplit(" - ", 1)[-1].strip("()") or stem.id)
        if stem.audio_url:
            saved.append(client.download(stem.audio_url, folder / f"{name}.mp3"))
    return saved


def generate(
    server: ServerOption = DEFAULT_SERVER,
    key: KeyOption = "",
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Describe the song.", show_default=False)
    ] = None,
    lyrics: Annotated[
        Path | None,
        typer.Option(
            "--lyrics", help="A file with the lyrics to sing.", exists=True, dir_okay=False
        ),
    ] = None,
    tags: Annotated[str | None, typer.Option(help="Style tags, e.g. 'folk, acoustic'.")] = None,
    title: Annotated[str | None, typer.Option(help="The song's title.")] = None,
    instrumental: Annotated[bool, typer.Option("--instrumental", help="No vocals.")] = False,
    model: Annotated[str | None, typer.Option(help="Model, e.g. chirp-v4.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, for a repeatable song.")] = None,
    stems: Annotated[bool, typer.Option("--stems", help="Also download the stems.")] = False,
    midi: Annotated[bool, typer.Option("--midi", help="Also download the MIDI file.")] = False,
    video: Annotated[bool, typer.Option("--video", help="Also download an MP4 video.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Where the clips' folders go.")] = Path("."),
    dialect: DialectOption = "sunocore",
) -> None:
    """Make a song on a server and download it into OUT/<clip_id>/."""
    if (prompt is None) == (lyrics is None):
        raise _fail("give exactly one of --prompt and --lyrics")
    words = lyrics.read_text(encoding="utf-8") if lyrics is not None else None
    with _client(server, key, dialect) as client:
        task_id = client.generate(
            prompt,
            lyrics=words,
            tags=tags,
            title=title,
            instrumental=instrumental,
            model=model,
            seed=seed,
        )
        console.print(f"task [bold]{task_id}[/]")
        task = _wait(client, task_id, "song")
        out.mkdir(parents=True, exist_ok=True)
        for clip in task.clips:
            saved = _save_clip(
                client, clip, task, out, midi=midi, video=video, stems=stems, dialect=dialect
            )
            console.print(f"clip [bold]{clip.id}[/] {clip.title!r}: {len(saved)} files")
            for path in saved:
                console.print(f"  {path}", soft_wrap=True)


def _task_table(tasks: list[Task]) -> Table:
    table = Table("task", "action", "status", "progress", "clips", "reason")
    for task in tasks:
        table.add_row(
            task.id,
            task.action,
            task.status,
            f"{task.progress}%",
            ", ".join(c.id for c in task.clips),
            task.fail_reason,
        )
    return table


def tasks(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Task ids (default: the key's latest tasks).")
    ] = None,
    server: ServerOption = DEFAULT_SERVER,
    key: KeyOption = "",
    status: Annotated[str | None, typer.Option(help="Only tasks in this status.")] = None,
    action: Annotated[str | None, typer.Option(help="Only tasks of this action.")] = None,
    limit: Annotated[int, typer.Option(help="How many.", min=1, max=200)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    dialect: DialectOption = "sunocore",
) -> None:
    """List tasks: the ones named, or the key's latest (from Cadenza's /api/v1)."""
    with _client(server, key, dialect) as client:
        if ids:
            found = client.get_many(list(ids))
        else:
            found, _ = client.list_tasks(limit=limit, status=status, action=action)
    if as_json:
        print(json.dumps([t.model_dump(exclude={"raw"}) for t in found], indent=2))
        return
    console.print(_task_table(found))


def fetch(
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    server: ServerOption = DEFAULT_SERVER,
    key: KeyOption = "",
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it ends.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Download its clips' audio here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    dialect: DialectOption = "sunocore",
) -> None:
    """Show a task and its clips (and download them with --out)."""
    with _client(server, key, dialect) as client:
        task = _wait(client, task_id, "task") if wait else client.get(task_id)
        if out is not None:
            for clip in task.clips:
                if clip.audio_url:
                    client.download(clip.audio_url, out / clip.id / "song.mp3")
    if as_json:
        print(json.dumps(task.model_dump(exclude={"raw"}), indent=2))
        return
    console.print(_task_table([task]))
    if task.lyrics is not None:
        console.print(f"[bold]{task.lyrics.title}[/]\n{task.lyrics.text}")
    clips = Table("clip", "title", "status", "duration", "audio")
    for clip in task.clips:
        duration = f"{clip.duration:.1f} s" if clip.duration is not None else ""
        clips.add_row(clip.id, clip.title, clip.status, duration, clip.audio_url)
    if task.clips:
        console.print(clips)


def register(app: typer.Typer) -> None:
    """Adds the client commands to the ``cadenza`` command."""
    app.command(rich_help_panel="Client")(generate)
    app.command(rich_help_panel="Client")(tasks)
    app.command(rich_help_panel="Client")(fetch)
