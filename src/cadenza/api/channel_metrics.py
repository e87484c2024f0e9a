"""Per-channel health in ``/metrics``: circuit, in-flight, outcomes and latency, read
from the ``ChannelHealth`` backend when Prometheus scrapes (this process's, or the
figures every relaying process shares in Redis)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cadenza.services.channels import ChannelRouter

STATES = ("closed", "half_open", "open", "disabled")


class ChannelMetrics:
    def __init__(self, router: ChannelRouter) -> None:
        self._router = router

    def collect(self) -> Iterator[Metric]:
        try:
            stats = self._router.health.snapshot(self._router.channels())
        except Exception:  # a scrape must answer even while the database is away
            stats = []
        up = GaugeMetricFamily(
            "cadenza_channel_up",
            "1 while the channel takes tasks (enabled, circuit not open)",
            labels=["channel"],
        )
        state = GaugeMetricFamily(
            "cadenza_channel_state", "The channel's circuit state", labels=["channel", "state"]
        )
        in_flight = GaugeMetricFamily(
            "cadenza_channel_in_flight", "Tasks relayed to the channel now", labels=["channel"]
        )
        submits = CounterMetricFamily(
            "cadenza_channel_submits",
            "Submits to the channel by outcome (accepted, refused, ambiguous)",
            labels=["channel", "outcome"],
        )
        tasks = CounterMetricFamily(
            "cadenza_channel_tasks",
            "Relayed tasks that ended, by outcome (succeeded, failed)",
            labels=["channel", "outcome"],
        )
        seconds = CounterMetricFamily(
            "cadenza_channel_task_seconds",
            "Seconds from submit to the end of relayed tasks, summed",
            labels=["channel"],
        )
        rate = GaugeMetricFamily(
            "cadenza_channel_success_ratio",
            "Share of the channel's ended tasks that succeeded",
            labels=["channel"],
        )
        for stat in stats:
            name = stat.name
            up.add_metric([name], 1.0 if stat.state in ("closed", "half_open") else 0.0)
            for value in STATES:
                state.add_metric([name, value], 1.0 if stat.state == value else 0.0)
            in_flight.add_metric([name], stat.in_flight)
            submits.add_metric([name, "accepted"], stat.accepted)
            submits.add_metric([name, "refused"], stat.refused)
            submits.add_metric([name, "ambiguous"], stat.ambiguous)
            tasks.add_metric([name, "succeeded"], stat.succeeded)
            tasks.add_metric([name, "failed"], stat.failed)
            seconds.add_metric([name], stat.seconds_total)
            if stat.success_rate is not None:
                rate.add_metric([name], stat.success_rate)
        yield from (up, state, in_flight, submits, tasks, seconds, rate)
