"""``cadenza render``: make a song (two clips) offline, from lyrics or a description.

The main CLI mounts ``render_command`` as ``cadenza render``; ``python -m cadenza.compose.cli``
runs it on its own.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from cadenza.compose.pipeline import ComposeEngine
from cadenza.compose.synth import DEFAULT_SOUNDFONT
from cadenza.domain.errors import DomainError, EngineError
from cadenza.domain.music import MusicRequest, build_music_request


def build_request(
    *,
    lyrics: str | None,
    prompt: str | None,
    title: str,
    tags: str,
    negative_tags: str,
    instrumental: bool,
    vocal_gender: str | None,
    model: str,
    seed: int | None,
) -> MusicRequest:
    """The same validation the API applies; ``lyrics`` is always taken as lyrics."""
    params: dict[str, object] = {
        "title": title,
        "tags": tags,
        "negative_tags": negative_tags,
        "make_instrumental": instrumental,
        "vocal_gender": vocal_gender,
        "mv": model,
        "seed": seed,
    }
    if lyrics is not None:
        params["prompt"] = lyrics
        params["gpt_description_prompt"] = ""
    elif prompt is not None:
        params["gpt_description_prompt"] = prompt
    request = build_music_request(params)
    if lyrics is not None:
        request = dataclasses.replace(request, lyrics=lyrics, description=None)
    return request


def render_command(
    out: Annotated[Path, typer.Option("--out", help="Directory; clips go to OUT/<clip_id>/")],
    lyrics: Annotated[
        Path | None, typer.Option("--lyrics", help="Lyrics file ([Verse], [Chorus] ...)")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="A description; the lyrics are written")
    ] = None,
    title: Annotated[str, typer.Option("--title")] = "",
    tags: Annotated[str, typer.Option("--tags", help="Style: genre, mood, instruments")] = "",
    negative_tags: Annotated[str, typer.Option("--negative-tags")] = "",
    instrumental: Annotated[bool, typer.Option("--instrumental")] = False,
    vocal_gender: Annotated[str | None, typer.Option("--vocal-gender", help="m or f")] = None,
    model: Annotated[str, typer.Option("--model")] = "",
    seed: Annotated[int | None, typer.Option("--seed", help="Same seed, same song")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Clips rendered in parallel")] = 2,
    soundfont: Annotated[Path, typer.Option("--soundfont")] = DEFAULT_SOUNDFONT,
) -> None:
    """Render a song: two clips with song.wav/mp3, stems, MIDI, lyrics, cover and meta."""
    console = Console(stderr=True)
    if (lyrics is None) == (prompt is None):
        console.print("[red]give exactly one of --lyrics FILE or --prompt TEXT[/red]")
        raise typer.Exit(2)
    try:
        text = lyrics.read_text("utf-8") if lyrics is not None else None
    except OSError as exc:
        console.print(f"[red]cannot read {lyrics}: {exc.strerror}[/red]")
        raise typer.Exit(2) from exc
    try:
        request = build_request(
            lyrics=text,
            prompt=prompt,
            title=title,
            tags=tags,
            negative_tags=negative_tags,
            instrumental=instrumental,
            vocal_gender=vocal_gender,
            model=model,
            seed=seed,
        )
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc

    clip_ids = [str(uuid.uuid4()) for _ in range(2)]
    engine = ComposeEngine(soundfont=soundfont, workers=workers)
    params = {"request": request.to_dict(), "clip_ids": clip_ids}
    with Progress(
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("compose", total=1.0)

        def progress(fraction: float, stage: str) -> None:
            bar.update(task, completed=fraction, description=stage)

        try:
            clips = engine.run("MUSIC", params, out, progress)
        except EngineError as exc:
            console.print(f"[red]render failed: {exc}[/red]")
            raise typer.Exit(1) from exc
        finally:
            # Stop the workers now: left to the interpreter's exit, the pool's shutdown
            # races its wake-up pipe being closed (OSError: Bad file descriptor).
            engine.close()
    console.print(f"seed {request.seed}")
    for clip in clips:
        meta = clip["meta"]
        print(f"{out / clip['id']}\t{meta['title']}\t{meta['duration']:.1f} s\t{meta['tags']}")


render_app = typer.Typer(add_completion=False, help="Render songs with the built-in engine.")
render_app.command(name="render")(render_command)


def main() -> None:
    typer.run(render_command)


if __name__ == "__main__":
    main()
