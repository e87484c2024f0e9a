"""AceData's official clients, reduced to what they send and how they read the answers.

Each request here is byte for byte what the client builds (AceDataCloud/SDK
``python/src/acedatacloud``, AceDataCloud/MCPs ``suno/`` and AceDataCloud/Clis ``suno/``),
and each reader applies the client's own decoding rules, so an answer that would break the
client breaks the test:

- SDK: ``client.suno.generate`` always sends ``model: chirp-v5-5``, ``action: generate``,
  ``prompt: "A song for Christmas"``, one ``audio_urls`` entry and ``async: true``; its
  ``TaskHandle`` polls ``POST /suno/tasks {"id", "action": "retrieve"}`` and reduces each
  record with ``task_status`` (``_runtime/tasks.py``), copied below.
- MCP: ``suno_generate_music`` sends ``callback_url`` even when it is ``None`` and adds
  ``async: true`` when there is none; ``suno_get_task`` does
  ``result.get("response", {}).get("success", False)``; the client logs every song's
  ``duration`` with ``:.1f``.
- CLI: strips ``None`` values, sends ``instrumental`` always, waits (sync) unless
  ``--async``; prints clips and task records in rich tables, whose cells must be strings.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

SDK_HEADERS = {
    "accept": "application/json",
    "content-type": "application/json",
    "user-agent": "acedatacloud-python/0.1.0",
}
#: What the MCP server and the CLI send besides ``authorization``.
MCP_HEADERS = {"accept": "application/json", "content-type": "application/json"}

_DONE = {"succeed", "succeeded", "success", "completed", "complete", "finished"}
_FAILED = {"failed", "failure", "error", "cancelled", "canceled", "rejected"}


def sdk_generate_body(**overrides: Any) -> dict[str, Any]:
    """``client.suno.generate(**overrides)``'s body, in the order the SDK builds it."""
    body: dict[str, Any] = {}
    for name in ("lyric",):
        if name in overrides:
            body[name] = overrides[name]
    body["model"] = overrides.get("model", "chirp-v5-5")
    for name in ("style", "title"):
        if name in overrides:
            body[name] = overrides[name]
    body["action"] = overrides.get("action", "generate")
    if "custom" in overrides:
        body["custom"] = overrides["custom"]
    body["prompt"] = overrides.get("prompt", "A song for Christmas")
    body["audio_urls"] = overrides.get(
        "audio_urls", ["https://cdn1.suno.ai/b481b17a-bf50-4e10-8adc-4d5635050893.mp3"]
    )
    if "instrumental" in overrides:
        body["instrumental"] = overrides["instrumental"]
    body["async"] = True
    return body


def mcp_generate_body(
    prompt: str, *, instrumental: bool, model: str = "chirp-v5-5"
) -> dict[str, Any]:
    """``suno_generate_music`` then ``SunoClient._with_async_callback``."""
    payload: dict[str, Any] = {
        "action": "generate",
        "prompt": prompt,
        "model": model,
        "instrumental": instrumental,
        "callback_url": None,
    }
    if not payload.get("callback_url"):
        payload["async"] = True
    return payload


def cli_body(**fields: Any) -> dict[str, Any]:
    """``SunoClient.request``: ``None`` values removed."""
    return {k: v for k, v in fields.items() if v is not None}


# -- the SDK's task reduction (acedatacloud/_runtime/tasks.py) ---------------------------


def _status_words(node: Any, depth: int = 0) -> list[str]:
    out: list[str] = []
    if depth > 6:
        return out
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("state", "status") and isinstance(value, str):
                out.append(value.lower())
            else:
                out.extend(_status_words(value, depth + 1))
    elif isinstance(node, list):
        for item in node:
            out.extend(_status_words(item, depth + 1))
    return out


def _collect_urls(node: Any, out: list[str], depth: int = 0) -> None:
    if depth > 6:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                isinstance(value, str)
                and value.startswith("http")
                and (key.endswith("_url") or key == "url" or key.endswith("_urls"))
            ):
                out.append(value)
            else:
                _collect_urls(value, out, depth + 1)
    elif isinstance(node, list):
        for item in node:
            _collect_urls(item, out, depth + 1)


def sdk_artifact_urls(state: dict[str, Any]) -> list[str]:
    found: list[str] = []
    _collect_urls(state.get("response", state), found)
    return list(dict.fromkeys(found))


def sdk_task_status(state: dict[str, Any]) -> str:
    """``succeeded`` | ``failed`` | ``""`` (running), exactly as the SDK decides."""
    response = state.get("response")
    if response is None:
        response = state
    if not isinstance(response, dict):
        return ""
    words = _status_words(response)
    if any(w in _FAILED for w in words):
        return "failed"
    if any(w in _DONE for w in words):
        return "succeeded" if sdk_artifact_urls(state) else "failed"
    if words:
        return ""
    if response.get("success") is False:
        error = response.get("error")
        if sdk_artifact_urls(state) or (isinstance(error, dict) and error.get("code")):
            return "failed"
    finished = response.get("finished_at") is not None or state.get("finished_at") is not None
    if finished:
        if response.get("success") is True:
            return "succeeded"
        if response.get("success") is False:
            return "failed"
        if sdk_artifact_urls(state):
            return "succeeded"
    if sdk_artifact_urls(state):
        return "succeeded"
    return ""


def sdk_progress(state: dict[str, Any]) -> int | None:
    """``progress()``: the first progress-like value, a number or a ``"NN%"`` string."""

    def find(node: Any, depth: int = 0) -> Any:
        if depth > 6:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("progress", "percent", "percentage"):
                    yield value
                else:
                    yield from find(value, depth + 1)
        elif isinstance(node, list):
            for item in node:
                yield from find(item, depth + 1)

    for value in find(state.get("response", state)):
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            pct = int(value * 100) if 0 < value <= 1 else int(value)
            return max(0, min(100, pct))
        if isinstance(value, str):
            try:
                return max(0, min(100, int(float(value.strip().rstrip("%")))))
            except ValueError:
                continue
    return None


def sdk_generate_result(answer: dict[str, Any]) -> str:
    """``Audio.generate``: the dict itself only when ``task_id`` and a truthy ``data``
    came back; otherwise the caller gets a ``TaskHandle`` (what it means by ``"handle"``)."""
    task_id = answer.get("task_id")
    if not task_id or answer.get("data"):
        return "dict"
    return "handle"


# -- MCP readers (core/client.py, tools/task_tools.py, core/utils.py) --------------------


def mcp_log_songs(answer: dict[str, Any]) -> list[str]:
    """``SunoClient.request``'s summary of a successful answer."""
    lines = []
    if answer.get("success"):
        data = answer.get("data", [])
        if isinstance(data, list):
            for i, item in enumerate(data, 1):
                if "audio_url" in item:
                    title = item.get("title", "Untitled")
                    lines.append(f"Song {i}: {title} - {item.get('duration', 0):.1f}s")
    else:
        lines.append(f"success=false: {answer.get('error', {})}")
    return lines


def mcp_task_is_complete(record: dict[str, Any]) -> bool:
    """``suno_get_task`` + ``_with_task_guidance``: done only with ``state: complete``
    and ``response.success``; ``.get`` on ``response`` must work on every poll."""
    is_complete = record.get("response", {}).get("success", False)
    state = record.get("state", "")
    response = record.get("response", {})
    success = response.get("success", False) if isinstance(response, dict) else False
    return bool(is_complete) and state == "complete" and success


# -- CLI printers (suno_cli/core/output.py), rendered for real ---------------------------


def cli_print_audio_result(data: dict[str, Any]) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    for item in data.get("data", []):
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column("Key")
        table.add_column("Value")
        if "title" in item:
            table.add_row("Title", item["title"])
        if "style" in item:
            table.add_row("Style", item["style"])
        if "duration" in item:
            table.add_row("Duration", f"{item['duration']:.1f}s")
        if "model_name" in item or "model" in item:
            table.add_row("Model", item.get("model_name") or item["model"])
        for key, label in (
            ("audio_url", "Audio URL"),
            ("video_url", "Video URL"),
            ("image_url", "Cover"),
            ("id", "Audio ID"),
        ):
            if key in item:
                table.add_row(label, item[key])
        console.print(table)
    return console.export_text()


def cli_print_task_result(data: dict[str, Any]) -> str:
    console = Console(record=True, width=300, file=io.StringIO())
    items = data.get("items", data.get("data", data))
    top_level_trace_id = data.get("trace_id")
    if not isinstance(items, list):
        items = [items]
    table = Table(title="Tasks")
    for name in ("Task ID", "Status", "Trace ID", "Progress", "Audio URL"):
        table.add_column(name)
    for item in items:
        status = item.get("status")
        if not status:
            status = (
                "completed" if item.get("finished_at") or item.get("response") else "processing"
            )
        response = item.get("response", {})
        audio_url = item.get("audio_url")
        if not audio_url and isinstance(response, dict):
            response_data = response.get("data", [])
            if isinstance(response_data, list) and response_data:
                audio_url = response_data[0].get("audio_url")
        table.add_row(
            item.get("id", "-"),
            status,
            item.get("trace_id", top_level_trace_id or "-"),
            item.get("progress", "-"),
            audio_url or "-",
        )
    console.print(table)
    return console.export_text()


def cli_wait_status(result: dict[str, Any]) -> str | None:
    """One pass of ``suno wait``: the status it acts on."""
    data = result.get("data", result)
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"][0] if data["items"] else {}
    status = data.get("status") if isinstance(data, dict) else None
    if not status and isinstance(data, dict):
        status = "completed" if data.get("finished_at") or data.get("response") else "processing"
    return status
