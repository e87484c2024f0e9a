"""AceData request bodies: the seed's examples parse, its error table's messages come out."""

from __future__ import annotations

from typing import Any

import pytest

from cadenza.api.acedata.requests import (
    AudioAction,
    ClipTool,
    ReplyMode,
    TaskBatchRequest,
    TaskRetrieveRequest,
    parse_audios,
    parse_clip_tool,
    parse_lyrics,
    parse_mashup_lyrics,
    parse_persona,
    parse_persona_delete,
    parse_persona_list,
    parse_style,
    parse_tasks,
    parse_upload,
    parse_voice,
    parse_vox,
    wants_ndjson,
)
from cadenza.domain.errors import InvalidInput

CLIP = "97efc9f4-0e8d-4b3e-88df-14568fa1b11f"


def refused(parse: Any, body: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        parse(body)
    return info.value.message


# -- the seed's examples ----------------------------------------------------------------


def test_inspiration_mode_defaults() -> None:
    req = parse_audios({"prompt": "A song for Christmas"})
    assert req.action is AudioAction.GENERATE
    assert req.model == "chirp-v4" and req.model_name == "chirp-v4"
    assert req.description == "A song for Christmas"
    assert not req.custom and not req.instrumental and req.lyrics is None
    assert req.delivery.mode is ReplyMode.SYNC and req.delivery.waits


def test_custom_mode_example() -> None:
    req = parse_audios(
        {
            "action": "generate",
            "prompt": "A song for Christmas",
            "model": "chirp-v4-5",
            "lyric": "[Verse]\nSnowflakes falling all around",
            "custom": True,
        }
    )
    assert req.custom and req.lyrics == "[Verse]\nSnowflakes falling all around"
    assert req.model == "chirp-v4-5"


def test_advanced_parameters_example() -> None:
    req = parse_audios(
        {
            "action": "generate",
            "model": "chirp-v4-5",
            "lyric": "Hello Hello Hello ",
            "custom": True,
            "weirdness": 0.4,
            "style_influence": 0.4,
            "audio_weight": 0.4,
        }
    )
    assert (req.weirdness, req.style_influence, req.audio_weight) == (0.4, 0.4, 0.4)
    assert req.lyrics == "Hello Hello Hello"


def test_extend_example() -> None:
    req = parse_audios(
        {
            "action": "extend",
            "prompt": "A song for Christmas",
            "model": "chirp-v4-5",
            "audio_id": CLIP,
            "continue_at": 2,
            "lyric": "[Verse]\nmore",
            "custom": True,
            "instrumental": False,
        }
    )
    assert req.action is AudioAction.EXTEND
    assert req.clip_id == CLIP and req.continue_at == 2.0


def test_other_seed_examples_parse() -> None:
    assert parse_audios({"action": "concat", "audio_id": CLIP}).clip_id == CLIP
    cover = parse_audios(
        {"action": "cover", "audio_id": CLIP, "prompt": "A song", "model": "chirp-v4-5"}
    )
    assert cover.action is AudioAction.COVER
    assert parse_audios({"action": "stems", "audio_id": CLIP}).action is AudioAction.STEMS
    assert parse_audios({"action": "all_stems", "audio_id": CLIP}).action is AudioAction.ALL_STEMS
    persona = parse_audios(
        {
            "action": "artist_consistency",
            "prompt": "A song for Christmas",
            "model": "chirp-v4-5",
            "persona_id": "e0d7319e",
            "audio_id": CLIP,
        }
    )
    assert persona.persona_id == "e0d7319e" and not persona.vox
    assert parse_audios({"action": "artist_consistency_vox", "prompt": "x", "persona_id": "p"}).vox


def test_remaster_example_without_model_defaults_to_a_model_that_remasters() -> None:
    req = parse_audios({"action": "remaster", "variation_category": "high", "audio_id": CLIP})
    assert req.model == "chirp-v5" and req.variation == "high"
    message = refused(parse_audios, {"action": "remaster", "audio_id": CLIP, "model": "chirp-v4"})
    assert "remaster" in message


def test_underpainting_reads_its_window_and_style() -> None:
    req = parse_audios(
        {"action": "underpainting", "audio_id": CLIP, "underpainting_end": 120, "style": "jazz"}
    )
    assert req.clip_id == CLIP and req.tags == "jazz"
    assert req.section is not None and (req.section.start, req.section.end) == (0.0, 120)
    assert "audio_id is required" in refused(parse_audios, {"action": "underpainting"})


def test_replace_section_and_overpainting_read_their_fields() -> None:
    req = parse_audios(
        {
            "action": "replace_section",
            "audio_id": CLIP,
            "lyric": "[Chorus]\nnew words",
            "prompt": "new words",
            "replace_section_start": 28.9,
            "replace_section_end": 85.4,
            "model": "chirp-v4",
        }
    )
    assert req.section is not None
    assert (req.section.start, req.section.end) == (28.9, 85.4)
    assert req.description == "new words" and req.lyrics == "[Chorus]\nnew words"
    assert "lyric is required" in refused(
        parse_audios, {"action": "replace_section", "audio_id": CLIP, "replace_section_end": 9}
    )
    assert "replace_section_end is required" in refused(
        parse_audios, {"action": "replace_section", "audio_id": CLIP, "prompt": "x"}
    )
    over = parse_audios(
        {"action": "overpainting", "audio_id": CLIP, "lyric": "la", "overpainting_end": 120}
    )
    assert over.section is not None and over.section.end == 120
    assert "lyric is required" in refused(
        parse_audios, {"action": "overpainting", "audio_id": CLIP, "overpainting_end": 120}
    )
    assert "audio_id is required" in refused(
        parse_audios, {"action": "overpainting", "lyric": "la"}
    )


def test_section_spans() -> None:
    req = parse_audios(
        {"action": "samples", "audio_id": CLIP, "samples_start": 59.88, "samples_end": 102.16}
    )
    assert req.section is not None and req.section.start == 59.88
    under = parse_audios({"action": "underpainting", "audio_id": CLIP, "underpainting_end": 120})
    assert under.section is not None and under.section.start == 0.0
    assert "greater than" in refused(
        parse_audios,
        {"action": "replace_section", "replace_section_start": 5, "replace_section_end": 2},
    )


# -- leniency ---------------------------------------------------------------------------


def test_nulls_are_absent_and_unknown_fields_ignored() -> None:
    req = parse_audios(
        {
            "prompt": "A song for Christmas",
            "callback_url": None,
            "async": True,
            "model": None,
            "action": None,
            "custom": None,
            "speed": 1.5,
            "lyrics_mode": "auto",
            "audio_urls": ["https://cdn1.suno.ai/x.mp3"],
        }
    )
    assert req.delivery.mode is ReplyMode.ASYNC and req.delivery.callback_url is None
    assert req.model == "chirp-v4" and req.reference_urls == ()


def test_sdk_body_is_accepted() -> None:
    req = parse_audios(
        {
            "prompt": "A song for Christmas",
            "audio_urls": ["https://cdn1.suno.ai/a.mp3"],
            "model": "chirp-v5-5",
            "action": "generate",
            "async": True,
        }
    )
    assert req.model_name == "chirp-v5-5"


def test_delivery_modes() -> None:
    cb = "https://hook.example.com/x"
    assert parse_audios({"prompt": "x", "callback_url": cb}).delivery.mode is ReplyMode.CALLBACK
    both = parse_audios({"prompt": "x", "callback_url": cb, "async": True}).delivery
    assert both.mode is ReplyMode.ASYNC and both.callback_url == cb
    assert parse_audios({"prompt": "x", "callback_url": ""}).delivery.mode is ReplyMode.SYNC
    assert "callback_url" in refused(parse_audios, {"prompt": "x", "callback_url": "ftp://x"})


@pytest.mark.parametrize(
    ("body", "prompt"),
    [
        ({"custom": True, "lyric_prompt": {"prompt": "about snow"}}, "about snow"),
        ({"custom": True, "lyric_prompt": "about snow"}, "about snow"),
    ],
)
def test_lyric_prompt_object_or_string(body: dict[str, Any], prompt: str) -> None:
    assert parse_audios(body).lyrics_prompt == prompt


def test_negative_tags_under_either_name() -> None:
    assert parse_audios({"prompt": "x", "negative_tags": "metal"}).negative_tags == "metal"
    assert parse_audios({"prompt": "x", "style_negative": "metal"}).negative_tags == "metal"


def test_lyric_without_custom_flag_is_custom_mode() -> None:
    assert parse_audios({"lyric": "[Verse]\nla la"}).custom


@pytest.mark.parametrize(
    "model",
    [
        "chirp-v5-5",
        "chirp-v5",
        "chirp-v4-5-plus",
        "chirp-v4-5",
        "chirp-v4",
        "chirp-v3-5",
        "chirp-v3-0",
        "chirp-v3",
        "CHIRP-V4",
    ],
)
def test_every_documented_model(model: str) -> None:
    assert parse_audios({"prompt": "x", "model": model}).model == model.lower()


def test_vocal_gender() -> None:
    assert parse_audios({"prompt": "x", "vocal_gender": "f"}).vocal_gender == "female"
    assert parse_audios({"prompt": "x", "vocal_gender": "m"}).vocal_gender == "male"
    assert refused(parse_audios, {"prompt": "x", "vocal_gender": "x"}) == (
        "vocal_gender must be f or m"
    )


# -- the seed's error table -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "prompt is required when generate audio"),
        ({"prompt": "  "}, "prompt is required when generate audio"),
        ({"custom": True}, "lyric is required when generate custom audio"),
        (
            {"action": "extend", "continue_at": 3, "lyric": "x"},
            "audio_id is required when extend audio",
        ),
        (
            {"action": "extend", "audio_id": CLIP, "lyric": "x"},
            "continue_at is required when extend audio",
        ),
        (
            {"action": "extend", "audio_id": CLIP, "continue_at": 0, "lyric": "x"},
            "continue_at must be a number greater than 0",
        ),
        (
            {"action": "extend", "audio_id": CLIP, "continue_at": "12", "lyric": "x"},
            "continue_at must be a number greater than 0",
        ),
        (
            {"action": "extend", "audio_id": CLIP, "continue_at": 12},
            "lyric is required when extend audio and instrumental is false",
        ),
        ({"prompt": "x", "instrumental": "false"}, "instrumental must be a boolean"),
        ({"prompt": "x", "instrumental": 0}, "instrumental must be a boolean"),
        ({"prompt": "x", "custom": "true"}, "custom must be a boolean"),
        ({"prompt": "x", "model": "chirp-v9"}, "model is invalid."),
        ({"prompt": "x", "model": "gpt-4"}, "model is invalid."),
        ({"action": "sing"}, "action is invalid."),
        ({"action": "cover"}, "audio_id is required when cover audio"),
        ({"action": "upload_cover"}, "audio_id is required when cover audio"),
        ({"action": "upload_extend"}, "audio_id is required when extend audio"),
        ({"action": "concat"}, "audio_id is required when concat audio"),
        ({"action": "stems"}, "audio_id is required when stems audio"),
        ({"action": "remaster"}, "audio_id is required when remaster audio"),
        (
            {"action": "artist_consistency", "prompt": "x"},
            "persona_id is required when artist_consistency audio",
        ),
        ({"prompt": 12}, "prompt must be a string"),
        ({"prompt": "x", "weirdness": 2}, "weirdness must be a number between 0 and 1"),
        ({"prompt": "x", "async": "yes"}, "async must be a boolean"),
        (
            {"prompt": "x", "variation_category": "wild", "model": "chirp-v5"},
            "variation_category must be one of high, normal, subtle",
        ),
    ],
)
def test_seed_messages(body: dict[str, Any], message: str) -> None:
    assert refused(parse_audios, body) == message


def test_instrumental_extend_needs_no_lyric() -> None:
    req = parse_audios(
        {"action": "extend", "audio_id": CLIP, "continue_at": 30, "instrumental": True}
    )
    assert req.instrumental and req.lyrics is None


@pytest.mark.parametrize(
    ("model", "lyric_limit", "style_limit", "title_limit"),
    [
        ("chirp-v3-5", 3000, 200, 80),
        ("chirp-v4", 3000, 200, 80),
        ("chirp-v4-5", 5000, 1000, 100),
        ("chirp-v4-5-plus", 5000, 1000, 100),
        ("chirp-v5", 5000, 1000, 100),
        ("chirp-v5-5", 5000, 1000, 100),
    ],
)
def test_per_model_limits(model: str, lyric_limit: int, style_limit: int, title_limit: int) -> None:
    base = {"model": model, "custom": True}
    parse_audios(
        {**base, "lyric": "a" * lyric_limit, "style": "s" * style_limit, "title": "t" * title_limit}
    )
    assert refused(parse_audios, {**base, "lyric": "a" * (lyric_limit + 1)}) == "Prompt too long."
    assert (
        refused(parse_audios, {**base, "lyric": "x", "style": "s" * (style_limit + 1)})
        == "Tags too long."
    )
    assert (
        refused(parse_audios, {**base, "lyric": "x", "title": "t" * (title_limit + 1)})
        == "Title too long."
    )


def test_description_limit() -> None:
    parse_audios({"prompt": "d" * 500})
    assert refused(parse_audios, {"prompt": "d" * 501}) == "Topic too long."


def test_duration_only_for_custom_v5_5() -> None:
    req = parse_audios({"custom": True, "lyric": "x", "model": "chirp-v5-5", "duration": 120})
    assert req.duration_s == 120
    assert "chirp-v5-5" in refused(parse_audios, {"prompt": "x", "duration": 120})
    assert "between 10 and 360" in refused(
        parse_audios, {"custom": True, "lyric": "x", "model": "chirp-v5-5", "duration": 5}
    )


def test_variation_needs_v5() -> None:
    assert "chirp-v5" in refused(
        parse_audios, {"prompt": "x", "variation_category": "high", "model": "chirp-v4-5"}
    )


def test_unusable_json_is_refused() -> None:
    assert refused(parse_audios, {"prompt": "\ud83d"}).startswith("prompt is not valid Unicode")
    assert refused(parse_audios, {"prompt": "x", "weirdness": float("nan")}) == (
        "weirdness must be a finite number"
    )
    assert refused(parse_audios, {"prompt": "x", "extra": float("inf")}) == (
        "extra must be a finite number"
    )
    assert refused(parse_audios, ["prompt"]) == "The request body must be a JSON object."


# -- other endpoints --------------------------------------------------------------------


def test_lyrics_models() -> None:
    for model in (None, "default", "remi-v1", "chirp-v3", "chirp-v5-5"):
        assert parse_lyrics({"prompt": "snow", "model": model}).prompt == "snow"
    assert parse_lyrics({"prompt": "snow"}).model == "default"
    assert refused(parse_lyrics, {"prompt": "snow", "model": "gpt"}) == "model is invalid."
    assert refused(parse_lyrics, {"model": "default"}) == "prompt is required."


def test_persona_bodies() -> None:
    req = parse_persona({"audio_id": CLIP, "name": "test"})
    assert (req.clip_id, req.name, req.vox_clip_id, req.vocal) == (CLIP, "test", None, None)
    vox = parse_persona(
        {"audio_id": CLIP, "name": "v", "vox_audio_id": "vx", "vocal_start": 1, "vocal_end": 20}
    )
    assert vox.vox_clip_id == "vx" and vox.vocal is not None and vox.vocal.end == 20
    assert refused(parse_persona, {"audio_id": CLIP}) == "name is required."
    assert refused(parse_persona, {"name": "x"}) == "audio_id is required."
    listing = parse_persona_list({"user_id": "u", "limit": "5", "offset": "10"})
    assert (listing.user_id, listing.limit, listing.offset) == ("u", 5, 10)
    assert parse_persona_list({}).limit == 50
    assert refused(parse_persona_list, {"limit": "many"}) == "limit must be an integer"
    assert parse_persona_delete({"persona_id": "p"}).persona_id == "p"
    assert refused(parse_persona_delete, {}) == "persona_id is required."


def test_tool_bodies() -> None:
    vox = parse_vox({"audio_id": CLIP, "vocal_start": 0, "vocal_end": 25, "async": True})
    assert vox.delivery.mode is ReplyMode.ASYNC and vox.vocal is not None
    assert refused(parse_vox, {"audio_id": CLIP, "vocal_start": 9, "vocal_end": 3}) == (
        "vocal_end must be greater than vocal_start"
    )
    assert refused(parse_voice, {"name": "me"}) == "audio_url is required."
    assert parse_voice({"audio_url": "https://x/y.mp3"}).audio_url == "https://x/y.mp3"
    assert parse_upload({"audio_url": "https://x/y.mp3"}).audio_url == "https://x/y.mp3"
    assert refused(parse_upload, {"audio_url": "file:///etc/passwd"}).startswith("audio_url")
    for tool in ClipTool:
        assert parse_clip_tool(tool, {"audio_id": CLIP}).tool is tool
    assert refused(lambda b: parse_clip_tool("wav", b), {}) == "audio_id is required."
    assert parse_style({"prompt": "pop"}).prompt == "pop"
    assert refused(parse_mashup_lyrics, {"lyrics_a": "a"}) == "lyrics_b is required."


def test_tasks_bodies() -> None:
    assert parse_tasks({"id": "t1", "action": "retrieve"}) == TaskRetrieveRequest("t1")
    assert parse_tasks({"id": "t1"}) == TaskRetrieveRequest("t1")
    assert refused(parse_tasks, {"action": "retrieve"}) == "id is required."
    batch = parse_tasks({"ids": ["a", "b", "a"], "action": "retrieve_batch"})
    assert isinstance(batch, TaskBatchRequest) and batch.task_ids == ("a", "b")
    web = parse_tasks(
        {
            "action": "retrieve_batch",
            "user_id": "u",
            "type": "audios",
            "limit": 5,
            "offset": 0,
            "created_at_min": 1725083093.0,
        }
    )
    assert isinstance(web, TaskBatchRequest)
    assert (web.kind, web.limit, web.created_after) == ("audios", 5, 1725083093.0)
    assert refused(parse_tasks, {"action": "retrieve_batch", "limit": 0}).startswith("limit")
    assert refused(parse_tasks, {"action": "list"}) == "action is invalid."


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("offset", 2**63),
        ("offset", -1),
        ("created_at_min", 1e300),
        ("created_at_min", -1e12),
        ("created_at_max", 2.6e11),
    ],
)
def test_batch_filters_out_of_range_are_refused(field: str, value: float) -> None:
    # Past these, the database's integers and the calendar end: a 400, never a 500.
    message = refused(parse_tasks, {"action": "retrieve_batch", field: value})
    assert message.startswith(f"{field} must be"), message


def test_ndjson_accept() -> None:
    assert wants_ndjson("application/x-ndjson")
    assert wants_ndjson("application/json, application/x-ndjson;q=0.9")
    assert not wants_ndjson("application/json") and not wants_ndjson(None)
