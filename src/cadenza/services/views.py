"""Lookups through a unit of work: right for any repositories, fast on none."""

from __future__ import annotations

from collections.abc import Sequence

from cadenza.domain.billing import ApiKey
from cadenza.domain.tasks import Clip, TaskView
from cadenza.services.ports import UnitOfWorkFactory


class UowViews:
    """``Views`` over the repositories of a unit of work (one read transaction each)."""

    inline = False

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        with self._uow(read_only=True) as u:
            return u.keys.get_by_hash(key_hash)

    def revisions(self, task_ids: Sequence[str], key_id: str) -> dict[str, int]:
        wanted = list(dict.fromkeys(task_ids))
        if not wanted:
            return {}
        with self._uow(read_only=True) as u:
            return u.tasks.revisions(wanted, key_id)

    def tasks(self, task_ids: Sequence[str], key_id: str) -> list[TaskView]:
        wanted = list(dict.fromkeys(task_ids))
        if not wanted:
            return []
        with self._uow(read_only=True) as u:
            found = {task.id: task for task in u.tasks.get_many(wanted, key_id)}
            clips = u.clips.list_for_tasks(list(found))
        by_task: dict[str, list[Clip]] = {}
        for clip in clips:
            by_task.setdefault(clip.task_id, []).append(clip)
        return [TaskView(found[i], by_task.get(i, [])) for i in wanted if i in found]
