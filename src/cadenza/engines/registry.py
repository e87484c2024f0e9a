"""Chooses the engine for an action, building each engine only when first needed.

Engines can be heavy to construct (SoundFonts, models); the API process never renders,
so it never pays for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from cadenza.domain.errors import EngineError
from cadenza.services.ports import Engine

EngineFactory = Callable[[], Engine]


class EngineRegistry:
    def __init__(
        self,
        engines: Mapping[str, Engine] | None = None,
        *,
        factories: Mapping[str, EngineFactory] | None = None,
    ) -> None:
        self._engines: dict[str, Engine] = dict(engines or {})
        self._factories: dict[str, EngineFactory] = dict(factories or {})
        self._lock = threading.Lock()

    def actions(self) -> list[str]:
        return sorted(set(self._engines) | set(self._factories))

    def __call__(self, action: str) -> Engine:
        engine = self._engines.get(action)
        if engine is not None:
            return engine
        factory = self._factories.get(action)
        if factory is None:
            raise EngineError(f"no engine handles action '{action}'")
        with self._lock:
            engine = self._engines.get(action)
            if engine is None:
                engine = factory()
                self._engines[action] = engine
        return engine
