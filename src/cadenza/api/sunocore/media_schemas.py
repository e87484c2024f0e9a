"""Request bodies of the audio-edit, upload and video routes (seed 000)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cadenza.api.bodies import RequestBody


class CropBody(RequestBody):
    task_id: str | None = None
    song_id: str = Field(min_length=1, max_length=64)
    crop_start_s: float
    crop_end_s: float
    is_crop_remove: bool = False


class SpeedBody(RequestBody):
    clip_id: str = Field(min_length=1, max_length=64)
    speed_multiplier: float
    keep_pitch: bool = True
    title: str | None = Field(default=None, max_length=200)
    task_id: str | None = None


class ConcatBody(RequestBody):
    clip_id: str = Field(min_length=1, max_length=64)
    is_infill: bool = False


class CreateUploadBody(RequestBody):
    extension: str = Field(min_length=1, max_length=8)


class AudioUrlBody(RequestBody):
    upload_id: str = Field(min_length=1, max_length=64)
    upload_filename: str = Field(default="", max_length=1000)
    #: Accepted for compatibility; the answer is always the task id (poll /suno/fetch).
    wait_audio: bool = True


class UploadForm(BaseModel):
    """The presigned upload form: the ``fields`` of create_audio_upload first, ``file``
    last. Documentation only: the route parses the stream itself, the file going to disk."""

    upload_id: str | None = None
    token: str
    file: bytes


#: The request body of ``POST /suno/uploads/{upload_id}`` in the API document.
UPLOAD_FORM: dict[str, Any] = {
    "required": True,
    "content": {"multipart/form-data": {"schema": UploadForm.model_json_schema()}},
}
