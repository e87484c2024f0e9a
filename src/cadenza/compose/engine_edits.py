"""The compose engine's edit actions: extend and cover (MUSIC tasks naming a source clip)
and remaster (UPSAMPLE). Each reads the source clip's ``score.json`` from storage (the
engine's own score, or for uploaded audio the analysis of it), edits the score
(``compose.edits``) and renders it with the same clip pipeline as a new song.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cadenza.compose.edits import VARIATIONS, cover_score, extend_score, remaster_score, snap_to_bar
from cadenza.compose.pipeline import (
    ProgressFn,
    _clip_entry,
    clip_seed,
    preview_entry,
    render_clip,
)
from cadenza.compose.score import Score
from cadenza.domain.errors import EngineError
from cadenza.domain.music import MusicRequest
from cadenza.services.ports import MediaStorage

_CLIP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
#: The task parameter that carries the source clip's score storage key.
SCORE_KEY_PARAM = "source_score_key"


def handles(action: str, params: dict[str, Any]) -> bool:
    """True for the tasks this module runs instead of composing a new song."""
    if action.upper() == "UPSAMPLE":
        return True
    request = params.get("request")
    return (
        action.upper() == "MUSIC"
        and isinstance(request, dict)
        and request.get("task") in ("extend", "cover")
    )


def load_source(storage: MediaStorage | None, params: dict[str, Any], workdir: Path) -> Score:
    """The source clip's score, fetched into ``workdir``."""
    key = params.get(SCORE_KEY_PARAM)
    if not isinstance(key, str) or not key:
        raise EngineError(
            "the source clip has no score (generated or analysed) to extend, cover or remaster"
        )
    if storage is None:
        raise EngineError("the compose engine has no media storage to read the source clip from")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        path = storage.fetch_to(key, workdir / "source-score.json")
        return Score.from_dict(json.loads(path.read_text("utf-8")))
    except EngineError:
        raise
    except Exception as exc:  # a missing object or an unreadable score
        raise EngineError(f"could not read the source clip's score: {type(exc).__name__}") from exc


def _clip_ids(params: dict[str, Any]) -> list[str]:
    try:
        clip_ids = [str(c) for c in params["clip_ids"]]
    except (KeyError, TypeError) as exc:
        raise EngineError(f"bad parameters for the compose engine: {exc}") from exc
    if not clip_ids or any(not _CLIP_ID.match(c) for c in clip_ids):
        raise EngineError("clip ids must be non-empty and made of letters, digits, - and _")
    return clip_ids


def _render_all(
    scores: list[tuple[str, Score, dict[str, Any], float]],
    request: MusicRequest,
    workdir: Path,
    progress: ProgressFn,
    soundfont: Path,
    partial: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    fractions = [0.0] * len(scores)
    entries: list[dict[str, Any]] = []
    for index, (clip_id, score, extra, composed) in enumerate(scores):

        def report(fraction: float, stage: str, index: int = index) -> None:
            fractions[index] = max(fractions[index], fraction)
            progress(sum(fractions) / len(fractions), stage)

        def on_preview(path: Path, seconds: float, clip_id: str = clip_id) -> None:
            if partial is not None:
                partial(preview_entry(clip_id, path, seconds))

        try:
            result = render_clip(
                score,
                workdir / clip_id,
                report,
                model=request.model,
                soundfont=soundfont,
                extra_meta=extra,
                on_preview=on_preview if partial is not None else None,
                prior_seconds={"compose": composed},
            )
        except EngineError:
            raise
        except Exception as exc:  # the task must end FAILURE with a reason, never hang
            raise EngineError(f"rendering failed: {type(exc).__name__}: {exc}") from exc
        entry = _clip_entry(clip_id, result, request)
        entry["meta"].update(extra)
        entries.append(entry)
    return entries


def run_edit(
    action: str,
    params: dict[str, Any],
    workdir: Path,
    progress: ProgressFn,
    *,
    storage: MediaStorage | None,
    soundfont: Path,
    partial: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run an extend, cover or remaster task; one result per clip id. ``partial`` gets
    each clip's preview as soon as it is rendered (see ``PartialReporter``)."""
    clip_ids = _clip_ids(params)
    if action.upper() == "UPSAMPLE" and params.get("audio_remaster"):
        # No score worth performing again (an upload): master the clip's audio instead.
        from cadenza.compose.remaster_audio import run_audio_remaster

        return run_audio_remaster(params, workdir, progress, storage=storage)
    source = load_source(storage, params, workdir)
    scores: list[tuple[str, Score, dict[str, Any], float]] = []
    if action.upper() == "UPSAMPLE":
        variation = str(params.get("variation_category") or "normal").lower()
        if variation not in VARIATIONS:
            raise EngineError(f"variation_category must be one of {', '.join(VARIATIONS)}")
        request = MusicRequest(
            title=str(params.get("title") or ""),
            tags=source.tags,
            model=str(params.get("model_name") or ""),
        )
        seed = int(params.get("seed") or 0)
        for index, clip_id in enumerate(clip_ids):
            t = time.perf_counter()
            score = remaster_score(source, variation, clip_seed(seed, index))
            if request.title:  # the clip's own title, which may differ from its score's
                score.title = request.title
            notes: dict[str, Any] = {
                "source_clip_id": params.get("source_clip_id"),
                "variation_category": variation,
                "upsample_clip_id": params.get("source_clip_id"),
            }
            scores.append((clip_id, score, notes, time.perf_counter() - t))
        return _render_all(scores, request, workdir, progress, soundfont, partial)

    try:
        request = MusicRequest.from_dict(dict(params["request"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineError(f"bad parameters for the compose engine: {exc}") from exc
    for index, clip_id in enumerate(clip_ids):
        seed = clip_seed(request.seed, index)
        t = time.perf_counter()
        if request.task == "extend":
            _, at = snap_to_bar(source, request.continue_at)
            score = extend_score(source, request, seed, at)
            extra: dict[str, Any] = {
                "continue_clip_id": request.continue_clip_id,
                "continue_at": at,
                "continue_at_requested": request.continue_at,
            }
        else:
            score = cover_score(source, request, seed)
            extra = {"cover_clip_id": request.cover_clip_id}
        scores.append((clip_id, score, extra, time.perf_counter() - t))
    return _render_all(scores, request, workdir, progress, soundfont, partial)
