"""Upstream channels' health: in-process memory for one server, Redis for many."""

from __future__ import annotations

from cadenza.domain.errors import UpstreamUnavailable
from cadenza.services.channels import NO_WORKER


class ChannelHealthUnavailable(UpstreamUnavailable):
    """The shared health store cannot be reached: no channel can be admitted safely."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{NO_WORKER} (channel health store: {detail})")


__all__ = ["ChannelHealthUnavailable"]
