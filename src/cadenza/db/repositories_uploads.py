"""The upload repository. State changes are conditional updates, so single use holds
even when two requests race for the same upload."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import RowMapping

from cadenza.db.tables_uploads import uploads
from cadenza.domain.uploads import Upload, UploadStatus


def _upload(row: RowMapping) -> Upload:
    return Upload(
        id=row["id"],
        key_id=row["key_id"],
        extension=row["extension"],
        token_hash=row["token_hash"],
        expires_at=row["expires_at"],
        status=UploadStatus(row["status"]),
        storage_key=row["storage_key"],
        size=row["size"],
        created_at=row["created_at"],
    )


class SqlUploadRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, upload: Upload) -> None:
        self._conn.execute(
            insert(uploads),
            {
                "id": upload.id,
                "key_id": upload.key_id,
                "extension": upload.extension,
                "status": upload.status.value,
                "token_hash": upload.token_hash,
                "storage_key": upload.storage_key,
                "size": upload.size,
                "expires_at": upload.expires_at,
                "created_at": upload.created_at,
            },
        )

    def get(self, upload_id: str) -> Upload | None:
        row = self._conn.execute(select(uploads).where(uploads.c.id == upload_id)).mappings()
        found = row.first()
        return _upload(found) if found else None

    def list_for_key(
        self, key_id: str, *, limit: int, offset: int = 0, status: str | None = None
    ) -> list[Upload]:
        query = select(uploads).where(uploads.c.key_id == key_id)
        if status is not None:
            query = query.where(uploads.c.status == status)
        query = query.order_by(uploads.c.created_at.desc(), uploads.c.id.desc())
        query = query.limit(limit).offset(offset)
        return [_upload(row) for row in self._conn.execute(query).mappings()]

    def transition(
        self,
        upload_id: str,
        current: UploadStatus,
        new: UploadStatus,
        *,
        storage_key: str | None = None,
        size: int | None = None,
    ) -> bool:
        """Move ``current`` -> ``new``; False when the upload was not in ``current``."""
        values: dict[str, object] = {"status": new.value}
        if storage_key is not None:
            values["storage_key"] = storage_key
        if size is not None:
            values["size"] = size
        result = self._conn.execute(
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.status == current.value)
            .values(**values)
        )
        return bool(result.rowcount)
