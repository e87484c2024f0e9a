"""Commands for audio edits and uploads, whichever dialect asks: cropping a clip,
changing its speed, and making a clip of audio already uploaded to a slot.

Each is a task on the queue, polled like music; the checks before its charge (the clip is
the key's and editable, the numbers are in range, the file is audio) are the services'
(``services.media``), so a bad request is refused the same way from every dialect.
"""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.tasks import Task
from cadenza.services import media
from cadenza.services.commands import Commands, Submission, follow_up_route, handles


@dataclass(frozen=True)
class Crop:
    """Keep ``[start_s, end_s)`` of a clip, or (``remove``) cut it out and join the rest."""

    clip_id: str
    start_s: float
    end_s: float
    remove: bool = False


@dataclass(frozen=True)
class SpeedAdjust:
    """A clip played ``multiplier`` times as fast; ``keep_pitch`` time-stretches it instead
    of resampling. ``title`` names the new clip (default: the source's, with the speed)."""

    clip_id: str
    multiplier: float
    keep_pitch: bool = True
    title: str | None = None


@dataclass(frozen=True)
class ImportUpload:
    """The audio received for an upload slot, probed now and made a clip titled after
    ``filename``; the upload is consumed once."""

    upload_id: str
    filename: str = ""


@handles(Crop, Action.CROP)
def _crop(app: Commands, key: ApiKey, command: Crop, how: Submission) -> Task:
    return media.submit_crop(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        crop_start_s=command.start_s,
        crop_end_s=command.end_s,
        is_crop_remove=command.remove,
        deadline_s=app.deadline_s,
        idempotency_key=how.idempotency_key,
        origin=how.origin.record(),
        callback=how.callback,
        relay_route=follow_up_route(app, key, command.clip_id, Action.CROP),
    )


@handles(SpeedAdjust, Action.SPEED_ADJUST)
def _speed_adjust(app: Commands, key: ApiKey, command: SpeedAdjust, how: Submission) -> Task:
    return media.submit_speed(
        app.uow,
        app.queue,
        key,
        clip_id=command.clip_id,
        speed_multiplier=command.multiplier,
        keep_pitch=command.keep_pitch,
        title=command.title,
        deadline_s=app.deadline_s,
        idempotency_key=how.idempotency_key,
        origin=how.origin.record(),
        callback=how.callback,
        relay_route=follow_up_route(app, key, command.clip_id, Action.SPEED_ADJUST),
    )


@handles(ImportUpload, Action.UPLOAD)
def _import_upload(app: Commands, key: ApiKey, command: ImportUpload, how: Submission) -> Task:
    return media.submit_upload(
        app.uow,
        app.queue,
        app.storage,
        key,
        upload_id=command.upload_id,
        upload_filename=command.filename,
        policy=app.uploads,
        deadline_s=app.deadline_s,
        idempotency_key=how.idempotency_key,
        origin=how.origin.record(),
        callback=how.callback,
    )
