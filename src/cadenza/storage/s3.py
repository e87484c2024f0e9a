"""Media in an S3-compatible bucket (AWS, MinIO, R2...): the scale-out store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cadenza.storage import MediaNotFound, StorageError, validate_key, validate_prefix

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _translate(exc: Exception) -> Exception:
    """Maps a botocore error to the store's own: missing object or backend failure."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            return MediaNotFound("media not found")
    return StorageError("media storage unavailable")


class S3Storage:
    """Objects in ``bucket``; URLs are public (``public_base_url/key``) or presigned GETs."""

    #: Keys listed (and deleted) per request; S3 caps a batch delete at 1000.
    page_size = 1000

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        public_base_url: str | None = None,
        presign_expires_s: int = 3600,
        timeout_s: float = 30.0,
    ) -> None:
        self._bucket = bucket
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        #: Public-bucket links never change; presigned ones expire.
        self.stable_urls = self._public_base_url is not None
        self._presign_expires_s = presign_expires_s
        config = Config(
            signature_version="s3v4",
            # Path style works with every S3 clone; AWS itself keeps virtual hosts.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        try:
            self._client: Any = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                config=config,
            )
        except (BotoCoreError, ValueError) as exc:
            raise StorageError("media storage unavailable") from exc
        self._transfer = TransferConfig(use_threads=False)

    @property
    def bucket(self) -> str:
        return self._bucket

    def ensure_bucket(self) -> None:
        """Creates the bucket when missing (development and first start)."""
        try:
            self._client.head_bucket(Bucket=self._bucket)
            return
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) not in _MISSING_CODES:
                raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise _translate(exc) from exc
        try:
            self._client.create_bucket(Bucket=self._bucket)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        try:
            self._client.upload_file(
                str(path),
                self._bucket,
                validate_key(key),
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer,
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=self._bucket, Key=validate_key(key), Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=validate_key(key))
            body: bytes = response["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc
        return body

    def fetch_to(self, key: str, dest: Path) -> Path:
        """Downloads to a temp file beside ``dest`` and renames, so ``dest`` is never partial."""
        dest = Path(dest)
        validate_key(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
            os.close(fd)
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc
        try:
            self._client.download_file(self._bucket, key, tmp_name, Config=self._transfer)
            os.replace(tmp_name, dest)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        return dest

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=validate_key(key))
        except ClientError as exc:
            translated = _translate(exc)
            if isinstance(translated, MediaNotFound):
                return False
            raise translated from exc
        except BotoCoreError as exc:
            raise _translate(exc) from exc
        return True

    def url(self, key: str) -> str:
        validate_key(key)
        if self._public_base_url:
            return f"{self._public_base_url}/{key}"
        try:
            url: str = self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": key},
                ExpiresIn=self._presign_expires_s,
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc
        return url

    def delete_prefix(self, prefix: str) -> None:
        """Deletes every object whose key starts with ``prefix``, 1000 per request."""
        validate_prefix(prefix)
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(
                Bucket=self._bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
            ):
                objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if objects:
                    result = self._client.delete_objects(
                        Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True}
                    )
                    if result.get("Errors"):
                        raise StorageError("media storage unavailable")
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc
