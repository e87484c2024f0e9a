"""The clip pipeline: score -> stems -> mix -> master -> files, and the ``compose`` engine.

Layout of one clip directory::

    song.wav  song.mp3  preview.mp3  stems/<Stem>.wav  song.mid  lyrics.json  score.json
    cover.png  cover_large.png  meta.json

Stems are float WAVs that sum to ``song.wav``: every effect runs per stem and the master's
gain envelope is applied to each of them. Nothing here draws random numbers, so the same
score always gives the same bytes.

``preview.mp3`` is the song's beginning up to a section boundary. A caller that wants it
early (``on_preview``: a task shows a playable clip while it renders) gets it rendered
first, from the score's head, before the whole song; the whole song's bytes are the same
either way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cadenza.compose.encode import encode_mp3, to_pcm16, write_mp3, write_wav
from cadenza.compose.master import MasterReport, master_stems
from cadenza.compose.mix import AudioArray, MixPlan, mix_stems, pan_mono
from cadenza.compose.parallel import available_cores
from cadenza.compose.score import STEM_NAMES, Score
from cadenza.compose.synth import DEFAULT_SOUNDFONT, SAMPLE_RATE, render_tracks, song_samples
from cadenza.domain.errors import EngineError
from cadenza.domain.music import MusicRequest
from cadenza.domain.stems import split_parts
from cadenza.services.ports import MediaStorage, PartialReporter

if TYPE_CHECKING:
    from cadenza.compose.voice import VoiceBank

ENGINE_NAME = "compose"
ProgressFn = Callable[[float, str], None]
#: Called with the preview's path and its length in seconds once it is written.
PreviewFn = Callable[[Path, float], None]

#: The preview ends at the first section boundary at least this far in (a lone short
#: intro is too little to judge a song by), and never later than ``PREVIEW_MAX_S``.
PREVIEW_MIN_S = 10.0
PREVIEW_MAX_S = 30.0
#: Rendered past the boundary and faded out, so the preview does not stop on a click.
PREVIEW_FADE_S = 0.5

_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_CLIP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

# Share of the progress bar per stage, roughly the share of the time it takes.
_STAGES: tuple[tuple[str, float], ...] = (
    ("instruments", 0.22),
    ("vocals", 0.33),
    ("mix", 0.08),
    ("master", 0.10),
    ("preview", 0.03),
    ("encode", 0.14),
    ("files", 0.10),
)
# With the preview rendered first: the head of the song (a tenth of it, plus the speech
# of the whole song's words), then the rest.
_STAGES_PREVIEW_FIRST: tuple[tuple[str, float], ...] = (
    ("preview", 0.12),
    ("instruments", 0.20),
    ("vocals", 0.24),
    ("mix", 0.08),
    ("master", 0.10),
    ("encode", 0.16),
    ("files", 0.10),
)


@dataclass
class ClipResult:
    """What ``render_clip`` wrote: file paths by layout name and the clip's metadata."""

    clip_dir: Path
    files: dict[str, Path]
    meta: dict[str, Any]
    master: MasterReport
    seconds: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of the whole process (all its threads) while each stage ran.
    cpu_seconds: dict[str, float] = field(default_factory=dict)


class _Progress:
    """Maps stage-local fractions onto 0..1 and keeps the reported value monotonic."""

    def __init__(
        self, callback: ProgressFn | None, stages: tuple[tuple[str, float], ...] = _STAGES
    ) -> None:
        self._callback = callback
        self._starts: dict[str, tuple[float, float]] = {}
        at = 0.0
        for name, share in stages:
            self._starts[name] = (at, share)
            at += share
        self._last = 0.0

    def __call__(self, stage: str, fraction: float = 0.0) -> None:
        if self._callback is None:
            return
        start, share = self._starts[stage]
        value = min(1.0, max(self._last, start + share * min(1.0, max(0.0, fraction))))
        self._last = value
        self._callback(value, stage)

    def done(self) -> None:
        if self._callback is not None:
            self._last = 1.0
            self._callback(1.0, "done")


class _Stopwatch:
    """Wall and CPU seconds per stage; calling it ends the running stage and starts the
    named one (``None`` starts none). A stage entered again adds to its time."""

    def __init__(self, wall: dict[str, float], cpu: dict[str, float]) -> None:
        self._wall, self._cpu = wall, cpu
        self._stage: str | None = None
        self._started = (0.0, 0.0)

    def __call__(self, name: str | None) -> None:
        now = (time.perf_counter(), time.process_time())
        if self._stage is not None:
            wall, cpu = now[0] - self._started[0], now[1] - self._started[1]
            self._wall[self._stage] = self._wall.get(self._stage, 0.0) + wall
            self._cpu[self._stage] = self._cpu.get(self._stage, 0.0) + cpu
        self._stage, self._started = name, now


def clip_seed(request_seed: int, index: int) -> int:
    """Seed of clip ``index`` of a request: the first 31 bits of
    BLAKE2b-64(``"cadenza/clip/<seed>/<index>"``), so both clips differ and are reproducible."""
    digest = hashlib.blake2b(f"cadenza/clip/{request_seed}/{index}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") & 0x7FFF_FFFF


def key_name(score: Score) -> str:
    written = score.extra.get("key")
    if isinstance(written, str) and written:
        return written
    return f"{_NOTE_NAMES[score.key_root % 12]} {score.mode}"


def lyrics_text(score: Score) -> str:
    """The lyrics as written in the score's sections (``[Label]`` headers, one line each)."""
    if score.instrumental or not score.vocals:
        return ""
    written = score.extra.get("lyrics")
    if isinstance(written, str) and written.strip():
        return written
    blocks = []
    for section in score.sections:
        if section.lines:
            blocks.append("\n".join([f"[{section.label or section.kind.title()}]", *section.lines]))
    return "\n\n".join(blocks)


def _stem_name(name: str) -> str:
    return name if name in STEM_NAMES else "FX"


def _sing(
    score: Score,
    n: int,
    progress: Callable[[float], None] | None,
    bank: VoiceBank | None = None,
    until: int | None = None,
) -> dict[str, AudioArray]:
    """The vocal stems, ``n`` samples long; with ``until``, the first ``until`` samples
    only (see ``sing_parts``: ``bank`` then keeps what a later whole song reuses)."""
    from cadenza.compose.voice import sing_parts

    stems: dict[str, AudioArray] = {}
    parts = [p for p in score.vocals if p.notes]
    length = n if until is None else min(n, until)
    sung = sing_parts(
        parts,
        score.tempo_bpm,
        n / SAMPLE_RATE,
        SAMPLE_RATE,
        progress,
        bank=bank,
        until_s=None if until is None else length / SAMPLE_RATE,
    )
    for part, audio in zip(parts, sung, strict=True):
        mono = np.asarray(audio, np.float32)
        if mono.shape[0] != length:
            fitted = np.zeros(length, dtype=np.float32)
            fitted[: min(length, mono.shape[0])] = mono[:length]
            mono = fitted
        stereo = pan_mono(mono, part.pan, part.volume)
        name = _stem_name(part.stem)
        if name in stems:
            stems[name] += stereo
        else:
            stems[name] = stereo
    return stems


def preview_beats(score: Score) -> float:
    """Where the preview ends, in beats: the first section boundary at least
    ``PREVIEW_MIN_S`` in, or ``PREVIEW_MAX_S`` if that comes first, never past the end."""
    longest = min(score.total_beats, PREVIEW_MAX_S * score.tempo_bpm / 60.0)
    for section in score.sections[1:]:
        boundary = float(section.start_bar * score.beats_per_bar)
        if score.seconds(boundary) >= PREVIEW_MIN_S:
            return min(boundary, longest)
    return longest


def _preview_samples(score: Score, n: int) -> int:
    """Samples of the preview: to its boundary plus the fade, never past the song."""
    end = score.seconds(preview_beats(score)) + PREVIEW_FADE_S
    return max(0, min(n, round(end * SAMPLE_RATE)))


def _fade_out(audio: AudioArray) -> AudioArray:
    """The last ``PREVIEW_FADE_S`` of ``audio`` faded to silence (in place)."""
    fade = min(audio.shape[0], round(PREVIEW_FADE_S * SAMPLE_RATE))
    if fade > 0:
        ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
        audio[-fade:] *= ramp[:, None] if audio.ndim == 2 else ramp
    return audio


def _head(score: Score, beats: float) -> Score:
    """The score cut at ``beats``: the notes that start before it (they ring on as in the
    song), the song's end at ``beats``. Vocals stay whole: ``_sing`` cuts them."""
    tracks = [
        dataclasses.replace(t, notes=[note for note in t.notes if note.start < beats])
        for t in score.tracks
    ]
    return dataclasses.replace(score, tracks=tracks, total_beats=beats)


def _early_preview(
    score: Score, out_dir: Path, soundfont: Path, bank: VoiceBank
) -> tuple[Path, float] | None:
    """Render, mix and master the song's head alone into ``preview.mp3``.

    About a tenth of the song's instruments and mix is rendered twice (here and in the
    whole song); the vocals are not: the words are spoken once into ``bank`` and the
    phrases sung here are reused by the whole song. The head is mastered on its own to the
    song's loudness target, so it sounds as loud as the final song.
    """
    n = song_samples(score, SAMPLE_RATE)
    head = _head(score, min(preview_beats(score), score.total_beats))
    keep = _preview_samples(score, n)
    head_n = min(n, song_samples(head, SAMPLE_RATE))
    stems: dict[str, AudioArray] = {}
    for name, audio in render_tracks(head, soundfont, SAMPLE_RATE).items():
        key = _stem_name(name)
        stems[key] = stems[key] + audio if key in stems else audio
    if not score.instrumental:
        for name, audio in _sing(score, n, None, bank, until=head_n).items():
            stems[name] = stems[name] + audio if name in stems else audio
    if not stems or keep == 0:
        return None
    stems = mix_stems(stems, SAMPLE_RATE, MixPlan.from_score(head, SAMPLE_RATE, head_n))
    song, _ = master_stems(stems, SAMPLE_RATE)
    del stems
    part = _fade_out(np.ascontiguousarray(song[:keep]))
    path = write_mp3(out_dir / "preview.mp3", part, SAMPLE_RATE)
    return path, round(part.shape[0] / SAMPLE_RATE, 3)


def _write_json(path: Path, data: Any, *, compact: bool = False) -> Path:
    # Indented JSON goes through the pure-Python encoder; the score (every note) is large
    # enough for that to cost a tenth of a second, so it is written compact.
    text = (
        json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if compact
        else json.dumps(data, ensure_ascii=False, indent=2)
    )
    path.write_text(text + "\n", "utf-8")
    return path


def render_clip(
    score: Score,
    out_dir: Path,
    progress: ProgressFn | None = None,
    *,
    model: str = "",
    soundfont: Path = DEFAULT_SOUNDFONT,
    on_preview: PreviewFn | None = None,
    extra_meta: dict[str, Any] | None = None,
    prior_seconds: dict[str, float] | None = None,
    post_mix: Callable[[dict[str, AudioArray]], None] | None = None,
) -> ClipResult:
    """Render ``score`` into ``out_dir`` (created) with the full clip layout.

    With ``on_preview``, ``preview.mp3`` is rendered first (see ``_early_preview``) and
    handed over before the whole song renders; without, it is cut from the mastered song.
    ``prior_seconds`` are stages done before (composing) to list in ``meta.json``.
    ``post_mix`` may add or change stems after the mix and before the master (audio the
    score does not hold, such as a sample), so they are mastered with the rest.
    """
    from cadenza.compose.heap import reuse_freed_memory

    with reuse_freed_memory():
        return _render_clip(
            score,
            out_dir,
            progress,
            model=model,
            soundfont=soundfont,
            on_preview=on_preview,
            extra_meta=extra_meta,
            prior_seconds=prior_seconds,
            post_mix=post_mix,
        )


def _render_clip(
    score: Score,
    out_dir: Path,
    progress: ProgressFn | None,
    *,
    model: str,
    soundfont: Path,
    on_preview: PreviewFn | None,
    extra_meta: dict[str, Any] | None,
    prior_seconds: dict[str, float] | None,
    post_mix: Callable[[dict[str, AudioArray]], None] | None = None,
) -> ClipResult:
    from cadenza.compose.midi import write_midi
    from cadenza.compose.timings import word_timings
    from cadenza.compose.voice import VoiceBank

    early = on_preview is not None
    report = _Progress(progress, _STAGES_PREVIEW_FIRST if early else _STAGES)
    seconds: dict[str, float] = dict(prior_seconds or {})
    cpu_seconds: dict[str, float] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    n = song_samples(score, SAMPLE_RATE)
    bank = VoiceBank()  # the song's speech, shared by the preview and the whole song

    stage = _Stopwatch(seconds, cpu_seconds)
    if on_preview is not None:
        stage("preview")
        report("preview")
        preview = _early_preview(score, out_dir, soundfont, bank)
        if preview is not None:
            files["preview.mp3"] = preview[0]
            on_preview(*preview)

    stage("instruments")
    report("instruments")
    stems: dict[str, AudioArray] = {}
    rendered = render_tracks(score, soundfont, SAMPLE_RATE, lambda f: report("instruments", f))
    for name, audio in rendered.items():  # stems are only ever named from Suno's twelve
        key = _stem_name(name)
        stems[key] = stems[key] + audio if key in stems else audio
    del rendered

    stage("vocals")
    report("vocals")
    if not score.instrumental:
        for name, audio in _sing(score, n, lambda f: report("vocals", f), bank).items():
            stems[name] = stems[name] + audio if name in stems else audio
    if not stems:
        raise EngineError("the score has no notes to render")

    stage("mix")
    report("mix")
    stems = mix_stems(stems, SAMPLE_RATE, MixPlan.from_score(score, SAMPLE_RATE, n))
    if post_mix is not None:
        post_mix(stems)

    stage("master")
    report("master")
    song, mastered = master_stems(stems, SAMPLE_RATE, parts=split_parts(stems))

    if "preview.mp3" not in files:
        stage("preview")
        report("preview")
        cut = _fade_out(song[: _preview_samples(score, n)].copy())
        files["preview.mp3"] = write_mp3(out_dir / "preview.mp3", cut, SAMPLE_RATE)

    stage("encode")
    report("encode")
    pcm = to_pcm16(song)
    del song
    # LAME releases the GIL: the MP3 encodes while the WAVs and the other files are written.
    encoder = ThreadPoolExecutor(1) if available_cores() > 1 else None
    mp3: Future[bytes] | None = None
    if encoder is not None:
        mp3 = encoder.submit(encode_mp3, pcm, SAMPLE_RATE)
    try:
        files["song.wav"] = write_wav(out_dir / "song.wav", pcm, SAMPLE_RATE)
        if mp3 is None:
            (out_dir / "song.mp3").write_bytes(encode_mp3(pcm, SAMPLE_RATE))
            files["song.mp3"] = out_dir / "song.mp3"
        report("encode", 0.6)
        stem_dir = out_dir / "stems"
        for name, audio in stems.items():
            key = f"stems/{name}.wav"
            files[key] = write_wav(stem_dir / f"{name}.wav", audio, SAMPLE_RATE, subtype="FLOAT")
        del stems

        stage("files")
        report("files")
        from cadenza.compose.cover import write_covers

        cover, cover_large = write_covers(
            score.title, score.tags, score.seed, out_dir / "cover.png", out_dir / "cover_large.png"
        )
        files["cover.png"], files["cover_large.png"] = cover, cover_large
        report("files", 0.5)
        write_midi(score, out_dir / "song.mid")
        files["song.mid"] = out_dir / "song.mid"
        lyrics = lyrics_text(score)
        files["lyrics.json"] = _write_json(
            out_dir / "lyrics.json",
            {
                "title": score.title,
                "language": score.language,
                "lyrics": lyrics,
                "words": word_timings(score),
            },
        )
        files["score.json"] = _write_json(out_dir / "score.json", score.to_dict(), compact=True)
        if mp3 is not None:
            stage("encode")  # waiting for the MP3 counts as encoding
            (out_dir / "song.mp3").write_bytes(mp3.result())
            files["song.mp3"] = out_dir / "song.mp3"
    finally:
        if encoder is not None:
            encoder.shutdown(wait=True, cancel_futures=True)
    stage(None)

    duration = round(n / SAMPLE_RATE, 3)
    meta: dict[str, Any] = {
        "title": score.title,
        "tags": score.tags,
        "duration": duration,
        "tempo": score.tempo_bpm,
        "key": key_name(score),
        "time_signature": f"{score.beats_per_bar}/4",
        "genre": score.genre,
        "language": score.language,
        "instrumental": score.instrumental or not score.vocals,
        "model": model,
        "seed": score.seed,
        "engine": ENGINE_NAME,
        "engine_version": score.engine_version,
        "lyrics": lyrics,
        "stems": sorted(k[len("stems/") : -len(".wav")] for k in files if k.startswith("stems/")),
        "loudness_lufs": round(mastered.output_lufs, 2),
        "true_peak_dbtp": round(mastered.true_peak_dbtp, 2),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "seconds_total": round(sum(seconds.values()), 3),
    }
    if extra_meta:
        meta.update(extra_meta)
    files["meta.json"] = _write_json(out_dir / "meta.json", meta)
    report.done()
    return ClipResult(out_dir, files, meta, mastered, seconds, cpu_seconds)


# --------------------------------------------------------------------------- the engine


def _clip_entry(clip_id: str, result: ClipResult, request: MusicRequest) -> dict[str, Any]:
    meta = {
        "title": result.meta["title"],
        "tags": result.meta["tags"],
        "negative_tags": request.negative_tags,
        "duration": result.meta["duration"],
        "lyrics": result.meta["lyrics"],
        "prompt": result.meta["lyrics"],
        "gpt_description_prompt": request.description or "",
        "model_name": request.model,
        "major_model_version": request.major_model_version,
        "seed": result.meta["seed"],
        "tempo": result.meta["tempo"],
        "key": result.meta["key"],
        "instrumental": result.meta["instrumental"],
        "engine": ENGINE_NAME,
        "engine_version": result.meta["engine_version"],
    }
    return {"id": clip_id, "files": {k: str(v) for k, v in result.files.items()}, "meta": meta}


def preview_entry(clip_id: str, path: Path, seconds: float) -> dict[str, Any]:
    """A clip's preview as a partial result (see ``PartialReporter``)."""
    return {
        "id": clip_id,
        "files": {"preview.mp3": str(path)},
        "meta": {"preview_duration": seconds},
    }


def _render_one(
    request_dict: dict[str, Any],
    index: int,
    clip_dir: str,
    soundfont: str,
    report: Callable[[int, float, str], None],
    preview: Callable[[int, Path, float], None] | None = None,
) -> tuple[ClipResult, MusicRequest]:
    from cadenza.compose.composer import compose

    request = MusicRequest.from_dict(request_dict)
    seed = clip_seed(request.seed, index)
    report(index, 0.0, "compose")
    t = time.perf_counter()
    score = compose(request, seed)
    composed = time.perf_counter() - t
    result = render_clip(
        score,
        Path(clip_dir),
        lambda f, stage: report(index, f, stage),
        model=request.model,
        soundfont=Path(soundfont),
        on_preview=None if preview is None else (lambda path, s: preview(index, path, s)),
        prior_seconds={"compose": composed},
    )
    return result, request


_CHILD_QUEUE: Any = None


def _child_init(progress_queue: Any, soundfont: str, threads: int | None = None) -> None:
    """Pay a worker's start-up once: imports (every module a render uses), the SoundFont
    loaded for FluidSynth; ``threads`` is this worker's share of the cores."""
    global _CHILD_QUEUE
    _CHILD_QUEUE = progress_queue
    from cadenza.compose.parallel import set_thread_budget
    from cadenza.lifeline import exit_with_parent

    exit_with_parent()
    set_thread_budget(threads)
    import cadenza.compose.composer
    import cadenza.compose.cover
    import cadenza.compose.heap
    import cadenza.compose.midi
    import cadenza.compose.timings
    import cadenza.compose.voice  # noqa: F401
    from cadenza.compose.synth import SynthError, preload

    with contextlib.suppress(SynthError):  # the render reports it, with its task
        preload(Path(soundfont))
    from PIL import Image

    Image.preinit()  # the PNG writer, else loaded by the first cover


def _child_ready() -> int:
    """This worker's process id, after a pause so that other calls reach other workers."""
    import os

    time.sleep(0.05)
    return os.getpid()


def _child_report(index: int, fraction: float, stage: str) -> None:
    if _CHILD_QUEUE is not None:
        _CHILD_QUEUE.put((index, fraction, stage))


def _child_preview(index: int, path: Path, seconds: float) -> None:
    if _CHILD_QUEUE is not None:
        _CHILD_QUEUE.put((index, seconds, _PREVIEW_MESSAGE, str(path)))


#: A queued message of a worker: ``(index, fraction, stage)`` or, for a preview written,
#: ``(index, seconds, _PREVIEW_MESSAGE, path)``.
_PREVIEW_MESSAGE = "preview-ready"


def _child_render(
    request_dict: dict[str, Any], index: int, clip_dir: str, soundfont: str, previews: bool = False
) -> tuple[ClipResult, MusicRequest]:
    preview = _child_preview if previews else None
    return _render_one(request_dict, index, clip_dir, soundfont, _child_report, preview)


class ComposeEngine:
    """The built-in score-first engine. A ``MUSIC`` action makes one clip per clip id.

    With ``workers > 1`` the clips render in parallel processes (one core each); inside a
    daemonic process (a prefork worker) that is impossible and they render one by one.
    The worker processes are started on first use (or by ``warm``) and kept for later
    tasks, so imports and the SoundFont load are paid once per process, not per task.
    Every song still starts from a fresh synth and a fresh eSpeak process: a reused worker
    gives the same bytes as a new one. ``close`` stops the workers.
    """

    name = ENGINE_NAME

    def __init__(
        self,
        soundfont: Path = DEFAULT_SOUNDFONT,
        workers: int = 1,
        storage: MediaStorage | None = None,
    ) -> None:
        self.soundfont = Path(soundfont)
        self.storage = storage  # reads source clips' scores for extend, cover and remaster
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None
        self._pool_lock = threading.Lock()

    def run(
        self,
        action: str,
        params: dict[str, Any],
        workdir: Path,
        progress: ProgressFn,
    ) -> list[dict[str, Any]]:
        from cadenza.compose import engine_creative, engine_edits

        partial = progress.partial if isinstance(progress, PartialReporter) else None
        if engine_creative.handles(action):
            return engine_creative.run_creative(
                action, params, workdir, progress, storage=self.storage, soundfont=self.soundfont
            )
        if engine_edits.handles(action, params):
            return engine_edits.run_edit(
                action,
                params,
                workdir,
                progress,
                storage=self.storage,
                soundfont=self.soundfont,
                partial=partial,
            )
        if action.upper() != "MUSIC":
            raise EngineError(f"the compose engine cannot run action '{action}'")
        try:
            request = MusicRequest.from_dict(dict(params["request"]))
            clip_ids = [str(c) for c in params["clip_ids"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError(f"bad parameters for the compose engine: {exc}") from exc
        if not clip_ids or any(not _CLIP_ID.match(c) for c in clip_ids):
            raise EngineError("clip ids must be non-empty and made of letters, digits, - and _")
        workdir.mkdir(parents=True, exist_ok=True)
        fractions = [0.0] * len(clip_ids)

        def report(index: int, fraction: float, stage: str) -> None:
            fractions[index] = max(fractions[index], fraction)
            progress(sum(fractions) / len(fractions), stage)

        preview: Callable[[int, Path, float], None] | None = None
        if partial is not None:
            hand_over = partial

            def preview(index: int, path: Path, seconds: float) -> None:
                hand_over(preview_entry(clip_ids[index], path, seconds))

        jobs = [
            (request.to_dict(), i, str(workdir / c), str(self.soundfont))
            for i, c in enumerate(clip_ids)
        ]
        try:
            if self.workers > 1 and len(jobs) > 1 and not multiprocessing.current_process().daemon:
                results = self._parallel(jobs, report, preview)
            else:
                results = [_render_one(*job, report, preview) for job in jobs]
        except EngineError:
            raise
        except Exception as exc:  # the task must end FAILURE with a reason, never hang
            raise EngineError(f"rendering failed: {type(exc).__name__}: {exc}") from exc
        return [_clip_entry(c, r, req) for c, (r, req) in zip(clip_ids, results, strict=True)]

    def warm(self) -> None:
        """Start the worker processes now and wait until each has loaded everything."""
        if self.workers <= 1 or multiprocessing.current_process().daemon:
            return
        with self._pool_lock:
            pool = self._ensure_pool()
            seen: set[int] = set()
            for _ in range(8):  # calls that linger a little land on different workers
                calls = [pool.submit(_child_ready) for _ in range(self.workers)]
                seen.update(f.result() for f in calls)
                if len(seen) >= self.workers:
                    break

    def close(self) -> None:
        """Stop the worker processes (a later task starts new ones)."""
        with self._pool_lock:
            self._discard_pool()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._queue = context.Queue()
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_child_init,
                # The clips share the cores: each worker gets its share of threads.
                initargs=(
                    self._queue,
                    str(self.soundfont),
                    max(1, available_cores() // self.workers),
                ),
            )
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._queue is not None:
            self._queue.close()
            self._queue = None

    def _parallel(
        self,
        jobs: list[tuple[dict[str, Any], int, str, str]],
        report: Callable[[int, float, str], None],
        preview: Callable[[int, Path, float], None] | None = None,
    ) -> list[tuple[ClipResult, MusicRequest]]:
        # One task at a time owns the workers (it uses them all) and their progress queue.
        with self._pool_lock:
            pool = self._ensure_pool()
            progress_queue = self._queue
            try:
                futures: list[Future[tuple[ClipResult, MusicRequest]]] = [
                    pool.submit(_child_render, *job, preview is not None) for job in jobs
                ]

                def handle(message: tuple[Any, ...]) -> None:
                    if len(message) == 4 and message[2] == _PREVIEW_MESSAGE:
                        if preview is not None:
                            preview(message[0], Path(message[3]), message[1])
                    else:
                        report(*message)

                while not all(f.done() for f in futures):
                    try:
                        message = progress_queue.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    handle(message)
                while True:
                    try:
                        handle(progress_queue.get_nowait())
                    except queue.Empty:
                        break
                return [f.result() for f in futures]
            except BrokenProcessPool:
                self._discard_pool()  # a worker died: the next task starts fresh ones
                raise
