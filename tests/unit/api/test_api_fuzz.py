"""Schemathesis over ``/openapi.json``, against the real app with a funded key.

Every documented operation gets generated requests, valid and invalid; each answer must
be no 5xx and a documented status with its documented content type, headers and schema.
Schemathesis's own engine runs here (the phases ``schemathesis run`` runs), bounded by a
fixed seed and a few examples per operation so the suite stays fast;
``scripts/schemathesis.sh`` runs a longer campaign against a server. Music renders go to
the tests' fake engine (``conftest``), so a valid submit costs milliseconds.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from schemathesis.engine.recorder import ScenarioRecorder

from cadenza.api.acedata.document import TAG
from cadenza.bootstrap import Container, build_runner
from cadenza.domain.actions import Action
from cadenza.engines.registry import EngineRegistry
from cadenza.services.ports import ProgressCallback

#: Fixed so that a failure reproduces; the campaign script draws a new seed each run.
SEED = 20260101
EXAMPLES = 10
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",  # input the document calls invalid is refused (4xx)
    "missing_required_header",
    "ignored_auth",  # an operation that documents a key refuses a request without one
    "unsupported_method",  # an undocumented method is a 405 ...
    "allow_header_conformance",  # ... whose Allow lists the documented ones
)


#: ``ignored_auth`` holds a missing key to be a 401 or 403; AceData's contract answers it
#: with ``400 no_token`` (a wrong key is its 401): ``acedata/test_acedata_document.py``
#: checks both on every AceData operation instead.
ACEDATA_AUTH = {
    "include-tag": TAG,
    "checks": {"ignored_auth": {"enabled": False}},
}


def _config(secret: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # no state across runs: the run is the same each time
            "headers": {"X-API-Key": secret},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "operations": [ACEDATA_AUTH],
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "generation": {"max-examples": EXAMPLES, "database": "none"},
        }
    )


def _failures(recorder: ScenarioRecorder) -> set[str]:
    """One line per distinct failure, with the request that caused it."""
    found = set()
    for checks in recorder.checks.values():
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            found.add(
                f"{failure.operation}: {failure.title}: {failure.message[:300]}\n"
                f"    {check.failure_info.code_sample[:600]}"
            )
    return found


class FakeVideo:
    """Writes a few bytes for an MP4 task (the fuzzer finds the clips it made)."""

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        video = workdir / "video.mp4"
        video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
        return [{"id": params["clip_ids"][0], "files": {"video.mp4": str(video)}, "meta": {}}]


def fake_engines(container: Container, queue: Any, engine: Any) -> Container:
    """Every action runs on a fake engine (lyrics on the real one, text only): the fuzzer
    tests the HTTP surface, not audio."""
    engines = EngineRegistry(
        {action: engine for action in Action}
        | {Action.MP4: FakeVideo(), Action.LYRICS: container.engines(Action.LYRICS)}
    )
    runner = build_runner(container.settings, container.uow, container.storage, engines)
    queue.runner = runner
    return dataclasses.replace(container, engines=engines, runner=runner)


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    return fake_engines(container, queue, engine)


def test_the_api_answers_as_documented(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("1000000", rpm=1_000_000, concurrency=10_000)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", client.app, config=_config(headers["X-API-Key"])
    )
    started = time.perf_counter()
    cases = 0
    failures: set[str] = set()
    errors: list[str] = []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            failures |= _failures(event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(repr(event))
        elif isinstance(event, events.EngineFinished):
            failures |= {f"{f.operation}: {f.title}" for f in event.failures}
    elapsed = time.perf_counter() - started
    figures = f"{len(schema)} operations, {cases} cases, {elapsed:.1f} s"
    print(f"schemathesis: {figures}")
    assert not errors, errors
    assert not failures, f"{figures}\n" + "\n".join(sorted(failures))
