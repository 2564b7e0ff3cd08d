"""An S3-compatible object store (AWS S3, MinIO, Ceph RGW, SeaweedFS) through aiobotocore.

Uploads. The bytes of an upload are objects under `KEY.upload/`: a marker (`start`) and
parts named `TOKEN-NNNNN`, each exactly the part size, then at most one smaller tail
(`TOKEN-tail`). An append streams its bytes into new parts as they fill (one part in
memory, the previous one in flight), then writes what is left as the new tail; the next
append reads that tail back and puts it in front of its own bytes. So every part but the
last is at least 5 MiB, as S3's multipart assembly requires, whatever the chunk sizes.

The state string (kept by the caller in the upload session row) lists the parts as runs
`[token, count, size]` plus the tail. Every append writes under a fresh token and never
touches an object the previous state names, so a failed or lost append leaves the previous
state valid, and any process can continue from the state alone.

Publishing assembles the parts at the destination server-side: CopyObject for one part,
otherwise one multipart upload of UploadPartCopy calls; the object appears whole when the
copy or CompleteMultipartUpload succeeds, never before. Then `KEY.upload/` is removed.

An append given its `dest` (the monolithic push, whose digest, hence its blob key, the
client names before sending a byte) writes straight to the destination instead: parts
of a multipart upload there (created at the first full part; smaller content takes the
tail path above), the last part as small as it comes. Publishing completes that
multipart upload, so the bytes are written once and never copied; aborting aborts it. The
multipart upload's id and key are also kept in `KEY.upload/mpu-ID`, so that an abort
without the state (garbage collection) finds it. Nothing is visible at `dest` before the
completion.

The marker is the upload: reading, appending and publishing check it first, so an upload
whose marker is gone (dropped, perhaps half-way) is ObjectNotFound whatever parts remain.

An unreachable store (or one that refuses our credentials) raises `Unavailable` (503)
within the connect timeout and the few retries configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from cargohold.oci.errors import Unavailable
from cargohold.storage.base import CHUNK_SIZE, ObjectNotFound

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import (
        CompletedPartTypeDef,
        CopySourceTypeDef,
        GetObjectOutputTypeDef,
        ListObjectsV2OutputTypeDef,
        ObjectIdentifierTypeDef,
    )

log = logging.getLogger("cargohold.storage")

T = TypeVar("T")

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
UPLOAD_SUFFIX = ".upload/"
_MARKER = "start"
_NOT_FOUND = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}
_UNAVAILABLE = {
    "NoSuchBucket",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "403",
}
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    BotoConnectionError,
    HTTPClientError,
    NoCredentialsError,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)

_session: AioSession | None = None


def _shared_session() -> AioSession:
    """One session per process: it caches the parsed service model between clients."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


@dataclass
class _State:
    """What an upload consists of: full parts (as runs of one token) and a tail."""

    runs: list[tuple[str, int, int]] = field(default_factory=list)
    tail: tuple[str, int] | None = None
    # Written at the destination: (multipart upload id, dest key, [(ETag, size)] per part).
    direct: tuple[str, str, list[tuple[str, int]]] | None = None

    @classmethod
    def load(cls, state: str, key: str) -> _State:
        try:
            data = json.loads(state)
            runs = [(str(t), int(n), int(s)) for t, n, s in data["runs"]]
            tail = data.get("tail")
            direct = data.get("direct")
            return cls(
                runs,
                (str(tail[0]), int(tail[1])) if tail else None,
                (str(direct[0]), str(direct[1]), [(str(e), int(n)) for e, n in direct[2]])
                if direct
                else None,
            )
        except (ValueError, TypeError, KeyError, IndexError):
            raise ObjectNotFound(key) from None

    def dump(self) -> str:
        data: dict[str, Any] = {"v": 1, "runs": self.runs}
        if self.tail:
            data["tail"] = self.tail
        if self.direct:
            data["direct"] = self.direct
        return json.dumps(data, separators=(",", ":"))

    @property
    def size(self) -> int:
        direct = sum(size for _, size in self.direct[2]) if self.direct else 0
        return (
            sum(count * size for _, count, size in self.runs)
            + (self.tail[1] if self.tail else 0)
            + direct
        )

    def parts(self) -> list[tuple[str, int]]:
        """Every part in order, as (name under KEY.upload/, size)."""
        names = [
            (f"{token}-{number:05d}", size)
            for token, count, size in self.runs
            for number in range(1, count + 1)
        ]
        if self.tail:
            names.append(self.tail)
        return names


class S3Backend:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        path_style: bool = False,
        part_size: int = 8 * MiB,
        max_object_size: int | None = None,
        connect_timeout: float = 1.0,
        read_timeout: float = 30.0,
        retries: int = 1,
        copy_concurrency: int = 4,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint = endpoint
        # Parts are at least 5 MiB, and few enough that the largest object fits in 10,000.
        floor = -(-max_object_size // MAX_PARTS) if max_object_size else 0
        self.part_size = max(part_size, MIN_PART_SIZE, floor)
        self._region = region
        self._credentials = (access_key, secret_key)
        self._config = AioConfig(
            region_name=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": retries + 1, "mode": "standard"},
            # No SHA-256 of every body for the signature (botocore would hash each part in
            # the event loop when the endpoint is plain http): the store checks lengths,
            # and the registry checks the blob's digest itself.
            s3={
                "addressing_style": "path" if path_style else "auto",
                "payload_signing_enabled": False,
            },
            signature_version="s3v4",
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=64,
        )
        self._copy_concurrency = copy_concurrency
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    # ------------------------------------------------------------------ plumbing

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.prefix + key

    def _upload_prefix(self, key: str) -> str:
        return self._key(key) + UPLOAD_SUFFIX

    async def _s3(self) -> S3Client:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        if self._opening is None or self._loop is not loop:
            self._opening, self._loop, self._client = asyncio.Lock(), loop, None
        async with self._opening:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                access_key, secret_key = self._credentials
                self._client = await stack.enter_async_context(
                    _shared_session().create_client(
                        "s3",
                        endpoint_url=self.endpoint,
                        region_name=self._region,
                        aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key,
                        config=self._config,
                    )
                )
                self._stack = stack
            client: S3Client = self._client
            return client

    async def close(self) -> None:
        """Close the connection pool; the next call opens a new one."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def _unavailable(self, exc: BaseException) -> Unavailable:
        reason = str(exc) or type(exc).__name__
        log.warning("object store %s unavailable: %s", self.endpoint or "S3", reason)
        return Unavailable(
            f"the object store is unavailable ({reason}); try again shortly",
            detail={"component": "storage"},
            headers={"Retry-After": "5"},
        )

    async def _call(self, operation: Awaitable[T], key: str) -> T:
        """One store request, with its errors translated: missing → ObjectNotFound,
        unreachable, overloaded or refusing us → Unavailable."""
        try:
            return await operation
        except ClientError as exc:
            raise self._translate(exc, key) from exc
        except _NETWORK_ERRORS as exc:
            raise self._unavailable(exc) from exc

    def _translate(self, exc: ClientError, key: str) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _NOT_FOUND:
            return ObjectNotFound(key)
        if code in _UNAVAILABLE or status >= 500:
            return self._unavailable(exc)
        return exc

    # ------------------------------------------------------------------ objects

    async def size(self, key: str) -> int:
        s3 = await self._s3()
        head = await self._call(s3.head_object(Bucket=self.bucket, Key=self._key(key)), key)
        return int(head["ContentLength"])

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        if length == 0:
            await self.size(key)
            return
        s3 = await self._s3()
        request: Awaitable[GetObjectOutputTypeDef]
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            span = f"bytes={offset}-{end}"
            request = s3.get_object(Bucket=self.bucket, Key=self._key(key), Range=span)
        else:
            request = s3.get_object(Bucket=self.bucket, Key=self._key(key))
        try:
            response = await self._call(request, key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # starts past the end: nothing to send, as a file would
            raise
        body = response["Body"]
        try:
            async for data in self._stream(body.iter_chunks(CHUNK_SIZE), key):
                yield data
        finally:
            body.close()

    async def _stream(self, chunks: AsyncIterator[bytes], key: str) -> AsyncIterator[bytes]:
        while True:
            try:
                data = await anext(chunks)
            except StopAsyncIteration:
                return
            except _NETWORK_ERRORS as exc:
                raise self._unavailable(exc) from exc
            if data:
                yield data

    async def _read_all(self, key: str) -> bytes:
        return b"".join([data async for data in self.read(key)])

    def local_path(self, key: str) -> Path | None:
        return None

    async def presigned_url(self, key: str, expires: int) -> str | None:
        s3 = await self._s3()
        signing = s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires
        )
        return await self._call(signing, key)  # signed here, no request: only credentials fail

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        with contextlib.suppress(ObjectNotFound):
            await self._call(s3.delete_object(Bucket=self.bucket, Key=self._key(key)), key)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        async for key in self._list(self.prefix + prefix):
            relative = key[len(self.prefix) :]
            if UPLOAD_SUFFIX not in relative:
                yield relative

    async def modified(self, key: str) -> float:
        s3 = await self._s3()
        head = await self._call(s3.head_object(Bucket=self.bucket, Key=self._key(key)), key)
        return head["LastModified"].timestamp()

    async def list_uploads(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        newest: dict[str, float] = {}
        async for full_key, when in self._list_stat(self.prefix + prefix):
            relative, found, _part = full_key[len(self.prefix) :].partition(UPLOAD_SUFFIX)
            if found:
                newest[relative] = max(when, newest.get(relative, 0.0))
        for key, when in newest.items():
            yield key, when

    async def _list(self, full_prefix: str) -> AsyncIterator[str]:
        async for key, _when in self._list_stat(full_prefix):
            yield key

    async def _list_stat(self, full_prefix: str) -> AsyncIterator[tuple[str, float]]:
        s3 = await self._s3()
        token: str | None = None
        while True:
            request: Awaitable[ListObjectsV2OutputTypeDef]
            if token:
                request = s3.list_objects_v2(
                    Bucket=self.bucket, Prefix=full_prefix, ContinuationToken=token
                )
            else:
                request = s3.list_objects_v2(Bucket=self.bucket, Prefix=full_prefix)
            page = await self._call(request, full_prefix)
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"].timestamp()
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def _delete_all(self, full_prefix: str) -> None:
        s3 = await self._s3()
        keys = [key async for key in self._list(full_prefix)]
        for start in range(0, len(keys), 1000):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": key} for key in keys[start : start + 1000]
            ]
            await self._call(
                s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}),
                full_prefix,
            )

    async def _put(self, full_key: str, data: bytes, key: str) -> None:
        s3 = await self._s3()
        await self._call(
            s3.put_object(
                Bucket=self.bucket,
                Key=full_key,
                Body=data,
                ContentType="application/octet-stream",
            ),
            key,
        )

    # ------------------------------------------------------------------ uploads

    async def start_upload(self, key: str) -> str:
        await self._put(self._upload_prefix(key) + _MARKER, b"", key)
        return _State().dump()

    async def _check_started(self, key: str) -> None:
        s3 = await self._s3()
        marker = self._upload_prefix(key) + _MARKER
        await self._call(s3.head_object(Bucket=self.bucket, Key=marker), key)

    async def append_upload(
        self,
        key: str,
        state: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        dest: str | None = None,
    ) -> tuple[int, str]:
        current = _State.load(state, key)
        if current.direct is not None:
            raise ValueError(f"upload {key} was written at its destination; it takes no more")
        if offset != current.size:
            raise ValueError(f"upload {key} has {current.size} bytes; cannot append at {offset}")
        await self._check_started(key)
        base = self._upload_prefix(key)
        token = secrets.token_hex(6)
        buffer = bytearray()
        count = 0
        received = 0
        direct = dest is not None and offset == 0 and not current.runs and not current.tail
        target = self._key(dest) if direct and dest is not None else ""
        upload_id = ""
        etags: list[tuple[str, int]] = []
        in_flight: asyncio.Task[None] | None = None
        s3 = await self._s3()

        async def put_part(number: int, part: bytes) -> None:
            if not upload_id:
                await self._put(f"{base}{token}-{number:05d}", part, key)
                return
            done = await self._call(
                s3.upload_part(
                    Bucket=self.bucket, Key=target, UploadId=upload_id,
                    PartNumber=number, Body=part,
                ),
                key,
            )  # fmt: skip
            etags[number - 1] = (done["ETag"], len(part))

        try:
            async for data in chunks:
                if not data:
                    continue
                if not received and current.tail is not None:
                    buffer += await self._read_all(key + UPLOAD_SUFFIX + current.tail[0])
                received += len(data)
                buffer += data
                while len(buffer) >= self.part_size:
                    with memoryview(buffer) as view:
                        part = bytes(view[: self.part_size])
                    del buffer[: self.part_size]
                    if in_flight is not None:
                        await in_flight
                        in_flight = None
                    if direct and not upload_id:
                        upload_id = await self._start_direct(s3, base, target, key)
                    count += 1
                    etags.append(("", len(part)))
                    in_flight = asyncio.create_task(put_part(count, part))
                    del part
            if in_flight is not None:
                await in_flight
                in_flight = None
            if not received:
                return current.size, state
            tail = None
            if upload_id:
                if buffer or not count:
                    count += 1
                    etags.append(("", len(buffer)))
                    await put_part(count, bytes(buffer))
                result = _State(direct=(upload_id, dest or "", etags))
                return result.size, result.dump()
            if buffer:
                await self._put(f"{base}{token}-tail", bytes(buffer), key)
                tail = (f"{token}-tail", len(buffer))
        except BaseException:
            if in_flight is not None:
                in_flight.cancel()
                with contextlib.suppress(BaseException):
                    await in_flight
            if upload_id:
                await self._abort_direct(s3, base, target, upload_id)
            raise
        runs = list(current.runs)
        if count:
            runs.append((token, count, self.part_size))
        result = _State(runs, tail)
        return result.size, result.dump()

    async def _start_direct(self, s3: S3Client, base: str, target: str, key: str) -> str:
        """A multipart upload at `target`, recorded under the upload as `mpu-ID`."""
        created = await self._call(
            s3.create_multipart_upload(
                Bucket=self.bucket, Key=target, ContentType="application/octet-stream"
            ),
            key,
        )
        upload_id = str(created["UploadId"])
        try:
            await self._put(f"{base}mpu-{upload_id}", target.encode(), key)
        except BaseException:
            await self._abort_direct(s3, base, target, upload_id)
            raise
        return upload_id

    async def _abort_direct(self, s3: S3Client, base: str, target: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            await s3.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload_id)
        with contextlib.suppress(Exception):
            await s3.delete_object(Bucket=self.bucket, Key=f"{base}mpu-{upload_id}")

    async def read_upload(self, key: str, state: str) -> AsyncIterator[bytes]:
        current = _State.load(state, key)
        if current.direct is not None:
            raise ValueError(f"upload {key} was written at its destination; it is not read back")
        await self._check_started(key)
        for name, _size in current.parts():
            async for data in self.read(key + UPLOAD_SUFFIX + name):
                yield data

    async def publish_upload(self, key: str, state: str, dest: str) -> None:
        current = _State.load(state, key)
        parts = current.parts()
        s3 = await self._s3()
        base = self._upload_prefix(key)
        target = self._key(dest)
        await self._check_started(key)  # an upload whose marker is gone was dropped
        if current.direct is not None:
            upload_id, direct_dest, etags = current.direct
            if direct_dest != dest:
                raise ValueError(f"upload {key} was written at {direct_dest}, not {dest}")
            done: list[CompletedPartTypeDef] = [
                {"PartNumber": number, "ETag": etag}
                for number, (etag, _size) in enumerate(etags, start=1)
            ]
            await self._call(
                s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=upload_id,
                    MultipartUpload={"Parts": done},
                ),
                key,
            )  # fmt: skip
        elif not parts:
            await self._put(target, b"", key)
        elif len(parts) == 1:
            source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": base + parts[0][0]}
            await self._call(
                s3.copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource=source,
                    ContentType="application/octet-stream",
                    MetadataDirective="REPLACE",
                ),
                key,
            )
        else:
            await self._assemble(s3, base, parts, target, key)
        try:
            await self._delete_all(base)
        except Unavailable:  # published already; the leftovers are garbage, not data
            log.warning("could not remove the parts of finished upload %s", key)

    async def _assemble(
        self, s3: S3Client, base: str, parts: Sequence[tuple[str, int]], target: str, key: str
    ) -> None:
        """Several parts → one object, copied server-side as one multipart upload."""
        created = await self._call(
            s3.create_multipart_upload(
                Bucket=self.bucket, Key=target, ContentType="application/octet-stream"
            ),
            key,
        )
        upload_id = created["UploadId"]
        limit = asyncio.Semaphore(self._copy_concurrency)

        async def copy(number: int, name: str) -> CompletedPartTypeDef:
            async with limit:
                copied = await self._call(
                    s3.upload_part_copy(
                        Bucket=self.bucket,
                        Key=target,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self.bucket, "Key": base + name},
                    ),
                    key,
                )
            return {"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]}

        try:
            done = await asyncio.gather(
                *(copy(number, name) for number, (name, _) in enumerate(parts, start=1))
            )
            await self._call(
                s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": done},
                ),
                key,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload_id)
            raise

    async def abort_upload(self, key: str, state: str) -> None:
        base = self._upload_prefix(key)
        s3 = await self._s3()
        async for full_key in self._list(base + "mpu-"):  # written at a destination
            upload_id = full_key[len(base) + len("mpu-") :]
            with contextlib.suppress(ObjectNotFound):
                target = (await self._read_all(full_key[len(self.prefix) :])).decode()
                with contextlib.suppress(ObjectNotFound):
                    await self._call(
                        s3.abort_multipart_upload(
                            Bucket=self.bucket, Key=target, UploadId=upload_id
                        ),
                        key,
                    )
        await self._delete_all(base)

    async def check(self) -> None:
        """The bucket exists and our credentials may use it (Unavailable otherwise)."""
        s3 = await self._s3()
        try:
            await self._call(s3.head_bucket(Bucket=self.bucket), self.bucket)
        except ObjectNotFound:
            raise self._unavailable(LookupError(f"bucket {self.bucket} does not exist")) from None
