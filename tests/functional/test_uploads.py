"""Blob uploads: POST, PATCH, PUT, GET and DELETE on /v2/<name>/blobs/uploads/ (end-4 to end-13).

Every refused request is checked for leftovers: no session row, no published
blob, no partial file, unless the rule says the session survives.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from cargohold.services.registry.uploads import sweep_expired_uploads
from tests.functional.registry import (
    BAD_DIGESTS,
    UNKNOWN_DIGEST,
    Registry,
    digest_of,
    error_code,
    random_blob,
)

NAME = "acme/web"


def upload_id(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[1]


async def patch(
    registry: Registry, location: str, data: bytes, start: int | None
) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if start is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
    return await registry.client.patch(location, content=data, headers=headers)


async def status(registry: Registry, location: str) -> httpx.Response:
    response = await registry.client.get(location)
    assert response.status_code == 204, response.text
    return response


async def assert_nothing_published(registry: Registry) -> None:
    assert await registry.rows("blobs") == []
    assert await registry.rows("package_blobs") == []
    assert registry.stored_files("blobs/") == []


async def assert_no_sessions(registry: Registry) -> None:
    assert await registry.rows("uploads") == []
    assert registry.stored_files("uploads/") == []


def message(response: httpx.Response) -> str:
    text: str = response.json()["errors"][0]["message"]
    return text


# Starting a session


async def test_post_returns_202_with_a_unique_unguessable_location(registry: Registry) -> None:
    first = await registry.client.post(f"/v2/{NAME}/blobs/uploads/")
    second = await registry.client.post(f"/v2/{NAME}/blobs/uploads/")

    assert first.status_code == second.status_code == 202
    locations = [first.headers["location"], second.headers["location"]]
    assert locations[0] != locations[1]
    for location in locations:
        assert location.startswith(f"/v2/{NAME}/blobs/uploads/")
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", upload_id(location)), location
    assert first.headers["docker-upload-uuid"] == upload_id(locations[0])
    assert len(await registry.rows("uploads")) == 2


async def test_post_without_trailing_slash_also_starts_a_session(registry: Registry) -> None:
    response = await registry.client.post(f"/v2/{NAME}/blobs/uploads")
    assert response.status_code == 202
    assert response.headers["location"].startswith(f"/v2/{NAME}/blobs/uploads/")


async def test_location_works_as_relative_and_as_absolute_url(registry: Registry) -> None:
    data = random_blob()
    location = await registry.start_upload(NAME)

    relative = await patch(registry, location, data[:500], 0)
    assert relative.status_code == 202
    absolute = await registry.client.put(
        "http://registry.test" + relative.headers["location"],
        params={"digest": digest_of(data)},
        content=data[500:],
    )
    assert absolute.status_code == 201
    assert (await registry.client.get(absolute.headers["location"])).content == data


async def test_location_ignores_forwarded_host_unless_trusted(registry: Registry) -> None:
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )

    assert response.status_code == 202
    assert "evil.example" not in response.headers["location"]


# Monolithic uploads


async def test_monolithic_post_then_put_publishes_the_blob(registry: Registry) -> None:
    data = random_blob(5000)
    digest = digest_of(data)
    location = await registry.start_upload(NAME)

    response = await registry.client.put(location, params={"digest": digest}, content=data)

    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/{NAME}/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    pulled = await registry.client.get(response.headers["location"])
    assert pulled.content == data
    await assert_no_sessions(registry)
    assert [row["size"] for row in await registry.rows("blobs")] == [len(data)]


async def test_single_post_with_digest_publishes_the_blob(registry: Registry) -> None:
    data = random_blob(5000)
    digest = digest_of(data)

    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=data
    )

    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/{NAME}/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert (await registry.client.get(response.headers["location"])).content == data
    await assert_no_sessions(registry)


async def test_empty_blob_can_be_uploaded(registry: Registry) -> None:
    location = await registry.start_upload(NAME)

    response = await registry.client.put(location, params={"digest": digest_of(b"")})

    assert response.status_code == 201
    pulled = await registry.client.get(f"/v2/{NAME}/blobs/{digest_of(b'')}")
    assert pulled.status_code == 200
    assert pulled.content == b""


async def test_pushing_the_same_blob_twice_is_fine(registry: Registry) -> None:
    data = random_blob()
    await registry.push_blob(NAME, data)
    await registry.push_blob(NAME, data)

    assert len(await registry.rows("blobs")) == 1
    assert len(await registry.rows("package_blobs")) == 1
    assert (await registry.client.get(f"/v2/{NAME}/blobs/{digest_of(data)}")).content == data


# Chunked uploads


async def test_each_patch_answers_202_with_location_and_range_of_the_whole_blob(
    registry: Registry,
) -> None:
    data = random_blob(3000)
    location = await registry.start_upload(NAME)

    for start in (0, 1000, 2000):
        response = await patch(registry, location, data[start : start + 1000], start)
        assert response.status_code == 202, response.text
        assert response.headers["range"] == f"0-{start + 999}"
        assert upload_id(response.headers["location"]) == upload_id(location)
        location = response.headers["location"]

    done = await registry.client.put(location, params={"digest": digest_of(data)})
    assert done.status_code == 201
    assert (await registry.client.get(done.headers["location"])).content == data


async def test_get_upload_status_is_204_with_location_and_range(registry: Registry) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(700), 0)

    response = await registry.client.get(location)

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["range"] == "0-699"
    assert upload_id(response.headers["location"]) == upload_id(location)


async def test_final_put_may_carry_the_last_chunk_with_content_range(registry: Registry) -> None:
    data = random_blob(2500)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data[:2000], 0)

    response = await registry.client.put(
        location,
        params={"digest": digest_of(data)},
        content=data[2000:],
        headers={"Content-Range": "2000-2499"},
    )

    assert response.status_code == 201, response.text
    assert (await registry.client.get(response.headers["location"])).content == data
    await assert_no_sessions(registry)


async def test_patch_without_content_range_appends_a_streamed_chunk(registry: Registry) -> None:
    data = random_blob(3000)
    location = await registry.start_upload(NAME)

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, 3000, 1000):
            yield data[start : start + 1000]

    response = await registry.client.patch(location, content=body())

    assert response.status_code == 202, response.text
    assert response.headers["range"] == "0-2999"
    done = await registry.client.put(location, params={"digest": digest_of(data)})
    assert done.status_code == 201


@pytest.mark.parametrize(
    ("case", "start", "length"),
    [("gap", 200, 100), ("overlap", 50, 100), ("repeat", 0, 100), ("behind", 99, 1)],
)
async def test_chunk_not_starting_at_the_current_end_is_416_and_the_session_stays_usable(
    registry: Registry, case: str, start: int, length: int
) -> None:
    data = random_blob(300)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data[:100], 0)

    response = await patch(registry, location, random_blob(length), start)

    assert response.status_code == 416
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert "100" in message(response)
    assert response.headers["range"] == "0-99"
    assert upload_id(response.headers["location"]) == upload_id(location)
    assert (await status(registry, location)).headers["range"] == "0-99"

    resumed = await patch(registry, location, data[100:], 100)
    assert resumed.status_code == 202
    done = await registry.client.put(location, params={"digest": digest_of(data)})
    assert done.status_code == 201
    assert (await registry.client.get(done.headers["location"])).content == data


async def test_first_chunk_not_starting_at_zero_is_416(registry: Registry) -> None:
    location = await registry.start_upload(NAME)

    response = await patch(registry, location, random_blob(10), 5)

    assert response.status_code == 416
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert response.headers["range"] == "0-0"


async def test_content_range_that_ends_before_it_starts_is_416(registry: Registry) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)

    response = await registry.client.patch(
        location, content=b"", headers={"Content-Range": "100-50"}
    )

    assert response.status_code == 416
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert (await status(registry, location)).headers["range"] == "0-99"


async def test_final_put_with_out_of_order_last_chunk_is_416_and_keeps_the_session(
    registry: Registry,
) -> None:
    data = random_blob(200)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data[:100], 0)

    response = await registry.client.put(
        location,
        params={"digest": digest_of(data)},
        content=data[100:],
        headers={"Content-Range": "150-249"},
    )

    assert response.status_code == 416
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    await assert_nothing_published(registry)
    assert (await status(registry, location)).headers["range"] == "0-99"


@pytest.mark.parametrize(
    "content_range", ["abc", "0-", "-99", "bytes */100", "0-99-199", "0x0-0x63", "1" * 100_000]
)
async def test_malformed_content_range_is_400_and_changes_nothing(
    registry: Registry, content_range: str
) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)

    response = await registry.client.patch(
        location, content=random_blob(100), headers={"Content-Range": content_range}
    )

    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert "Content-Range" in message(response)
    assert (await status(registry, location)).headers["range"] == "0-99"


async def test_content_length_disagreeing_with_content_range_is_400(registry: Registry) -> None:
    location = await registry.start_upload(NAME)

    response = await registry.client.patch(
        location, content=random_blob(100), headers={"Content-Range": "0-49"}
    )

    assert response.status_code == 400
    assert error_code(response) == "SIZE_INVALID"
    assert "Content-Length" in message(response)
    assert (await status(registry, location)).headers["range"] == "0-0"
    assert (await registry.rows("uploads"))[0]["size"] == 0


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "²", "9" * 5000])
async def test_malformed_content_length_is_400(registry: Registry, length: str) -> None:
    location = await registry.start_upload(NAME)

    response = await registry.raw(
        "PATCH", location, headers={"content-length": length}, body=random_blob(10)
    )

    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert "Content-Length" in message(response)
    assert (await registry.rows("uploads"))[0]["size"] == 0


# Verification when the upload is finished


async def test_digest_mismatch_on_put_is_400_and_the_session_is_gone(registry: Registry) -> None:
    data = random_blob(2000)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data, 0)
    wrong = digest_of(b"something else")

    response = await registry.client.put(location, params={"digest": wrong})

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert wrong in message(response)
    assert digest_of(data) in message(response)
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)
    gone = await registry.client.get(location)
    assert gone.status_code == 404
    assert error_code(gone) == "BLOB_UPLOAD_UNKNOWN"
    assert (await registry.client.head(f"/v2/{NAME}/blobs/{wrong}")).status_code == 404


async def test_digest_mismatch_on_put_with_last_chunk_publishes_nothing(
    registry: Registry,
) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)

    response = await registry.client.put(
        location, params={"digest": UNKNOWN_DIGEST}, content=random_blob(100)
    )

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)


async def test_digest_mismatch_on_single_post_is_400_and_publishes_nothing(
    registry: Registry,
) -> None:
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": UNKNOWN_DIGEST}, content=random_blob()
    )

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert UNKNOWN_DIGEST in message(response)
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)


async def test_sha512_digest_mismatch_is_400(registry: Registry) -> None:
    data = random_blob()
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/",
        params={"digest": digest_of(b"other", "sha512")},
        content=data,
    )

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    await assert_nothing_published(registry)


async def test_put_without_digest_is_400_and_keeps_the_session(registry: Registry) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)

    response = await registry.client.put(location)

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert "digest" in message(response)
    await assert_nothing_published(registry)
    assert (await status(registry, location)).headers["range"] == "0-99"


@pytest.mark.parametrize("digest", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
async def test_put_with_malformed_digest_is_400_digest_invalid(
    registry: Registry, digest: str
) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)

    response = await registry.client.put(location, params={"digest": digest})

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    await assert_nothing_published(registry)
    assert (await status(registry, location)).headers["range"] == "0-99"


@pytest.mark.parametrize("digest", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
async def test_single_post_with_malformed_digest_is_400_and_leaves_nothing(
    registry: Registry, digest: str
) -> None:
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=random_blob()
    )

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)


@pytest.mark.parametrize(("declared", "sent"), [(200, 100), (100, 200)])
async def test_size_mismatch_on_final_put_is_400_size_invalid_and_publishes_nothing(
    registry: Registry, declared: int, sent: int
) -> None:
    data = random_blob(100 + sent)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data[:100], 0)

    response = await registry.raw(
        "PUT",
        location,
        query=f"digest={digest_of(data)}".encode(),
        headers={"content-length": str(declared)},
        body=data[100:],
    )

    assert response.status_code == 400
    assert error_code(response) == "SIZE_INVALID"
    assert str(declared) in message(response)
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)


@pytest.mark.parametrize(("declared", "sent"), [(200, 100), (100, 200)])
async def test_size_mismatch_on_single_post_is_400_size_invalid_and_publishes_nothing(
    registry: Registry, declared: int, sent: int
) -> None:
    data = random_blob(sent)

    response = await registry.raw(
        "POST",
        f"/v2/{NAME}/blobs/uploads/",
        query=f"digest={digest_of(data)}".encode(),
        headers={"content-length": str(declared)},
        body=data,
    )

    assert response.status_code == 400
    assert error_code(response) == "SIZE_INVALID"
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)


async def test_patch_shorter_than_its_content_length_is_refused_and_not_kept(
    registry: Registry,
) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)

    response = await registry.raw(
        "PATCH",
        location,
        headers={"content-length": "100", "content-range": "100-199"},
        body=random_blob(60),
    )

    assert response.status_code == 400
    assert error_code(response) == "SIZE_INVALID"
    assert (await status(registry, location)).headers["range"] == "0-99"
    assert (await registry.rows("uploads"))[0]["size"] == 100


# Cancel, unknown and expired sessions


async def test_cancel_upload_is_204_then_404(registry: Registry) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)
    assert len(registry.stored_files("uploads/")) == 1

    response = await registry.client.delete(location)

    assert response.status_code == 204
    await assert_no_sessions(registry)
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        after = await registry.client.request(method, location, params={"digest": UNKNOWN_DIGEST})
        assert after.status_code == 404, method
        assert error_code(after) == "BLOB_UPLOAD_UNKNOWN"


async def test_finished_upload_is_gone(registry: Registry) -> None:
    data = random_blob()
    location = await registry.start_upload(NAME)
    await registry.client.put(location, params={"digest": digest_of(data)}, content=data)

    response = await patch(registry, location, random_blob(10), len(data))

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
@pytest.mark.parametrize("upload", ["0" * 48, "not-a-session", "x" * 10_000])
async def test_unknown_upload_id_is_404_blob_upload_unknown(
    registry: Registry, method: str, upload: str
) -> None:
    await registry.start_upload(NAME)

    response = await registry.client.request(
        method,
        f"/v2/{NAME}/blobs/uploads/{upload}",
        params={"digest": UNKNOWN_DIGEST},
        content=b"x" if method in ("PATCH", "PUT") else None,
    )

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert "upload" in message(response)
    assert len(await registry.rows("uploads")) == 1
    await assert_nothing_published(registry)


async def test_upload_id_is_unknown_under_another_repository(registry: Registry) -> None:
    location = await registry.start_upload("acme/a")
    await registry.start_upload("acme/b")
    other = location.replace("/acme/a/", "/acme/b/")

    for method in ("GET", "PATCH", "DELETE"):
        response = await registry.client.request(method, other, content=b"")
        assert response.status_code == 404, method
        assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert (await status(registry, location)).headers["range"] == "0-0"


@pytest.mark.parametrize(
    ("raw_id", "code"),
    [
        ("..", "BLOB_UPLOAD_UNKNOWN"),
        ("%2e%2e", "BLOB_UPLOAD_UNKNOWN"),
        ("%2E%2E%2Fcargohold.db", "UNSUPPORTED"),
    ],
)
async def test_upload_id_with_dot_segments_touches_no_file(
    registry: Registry, raw_id: str, code: str
) -> None:
    await registry.start_upload(NAME)

    response = await registry.raw("PATCH", f"/v2/{NAME}/blobs/uploads/{raw_id}", body=b"data")

    assert response.status_code == 404
    assert error_code(response) == code
    assert registry.stored_files() == [
        f"uploads/{(await registry.rows('uploads'))[0]['id']}.upload"
    ]


async def age_uploads(registry: Registry, seconds: float) -> None:
    await registry.context.db.execute(
        "UPDATE uploads SET updated_at = updated_at - :s", {"s": seconds}
    )


@pytest.mark.settings(upload_idle_expiry=60)
async def test_expired_upload_is_404_blob_upload_unknown_and_removed(registry: Registry) -> None:
    location = await registry.start_upload(NAME)
    await patch(registry, location, random_blob(100), 0)
    await age_uploads(registry, 61)

    response = await registry.client.get(location)

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert "expired" in message(response)
    await assert_no_sessions(registry)
    put = await registry.client.put(location, params={"digest": UNKNOWN_DIGEST})
    assert put.status_code == 404
    assert error_code(put) == "BLOB_UPLOAD_UNKNOWN"


@pytest.mark.settings(upload_idle_expiry=60)
async def test_activity_keeps_an_upload_alive(registry: Registry) -> None:
    data = random_blob(200)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data[:100], 0)
    await age_uploads(registry, 50)

    assert (await patch(registry, location, data[100:], 100)).status_code == 202
    await age_uploads(registry, 50)

    done = await registry.client.put(location, params={"digest": digest_of(data)})
    assert done.status_code == 201


@pytest.mark.settings(upload_idle_expiry=60)
async def test_sweep_removes_expired_sessions_and_their_partial_data(registry: Registry) -> None:
    old = await registry.start_upload(NAME)
    await patch(registry, old, random_blob(100), 0)
    await age_uploads(registry, 61)
    fresh = await registry.start_upload(NAME)
    await patch(registry, fresh, random_blob(100), 0)

    removed = await sweep_expired_uploads(registry.context)

    assert removed == 1
    assert [row["id"] for row in await registry.rows("uploads")] == [upload_id(fresh)]
    assert registry.stored_files("uploads/") == [f"uploads/{upload_id(fresh)}.upload"]
    assert (await registry.client.get(old)).status_code == 404
    assert (await status(registry, fresh)).headers["range"] == "0-99"
    assert await sweep_expired_uploads(registry.context) == 0


# Mounting


async def test_mount_from_a_repository_with_the_blob_is_201(registry: Registry) -> None:
    data = random_blob()
    digest = await registry.push_blob("acme/a", data)

    response = await registry.client.post(
        "/v2/acme/b/blobs/uploads/", params={"mount": digest, "from": "acme/a"}
    )

    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/acme/b/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert (await registry.client.get(f"/v2/acme/b/blobs/{digest}")).content == data
    await assert_no_sessions(registry)


@pytest.mark.parametrize("source", ["acme/a", "acme/nothing"])
async def test_mount_from_a_repository_lacking_the_blob_falls_back_to_an_upload(
    registry: Registry, source: str
) -> None:
    await registry.push_blob("acme/a", random_blob())
    digest = await registry.push_blob("acme/c", data := random_blob())

    response = await registry.client.post(
        "/v2/acme/b/blobs/uploads/", params={"mount": digest, "from": source}
    )

    assert response.status_code == 202
    location = response.headers["location"]
    assert location.startswith("/v2/acme/b/blobs/uploads/")
    assert (await registry.client.head(f"/v2/acme/b/blobs/{digest}")).status_code == 404
    done = await registry.client.put(location, params={"digest": digest}, content=data)
    assert done.status_code == 201


async def test_mount_without_from_mounts_a_blob_the_caller_can_pull(registry: Registry) -> None:
    data = random_blob()
    digest = await registry.push_blob("acme/a", data)

    response = await registry.client.post("/v2/acme/b/blobs/uploads/", params={"mount": digest})

    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/acme/b/blobs/{digest}"
    assert (await registry.client.get(f"/v2/acme/b/blobs/{digest}")).content == data


async def test_mount_without_from_of_an_unknown_blob_is_202(registry: Registry) -> None:
    response = await registry.client.post(
        "/v2/acme/b/blobs/uploads/", params={"mount": UNKNOWN_DIGEST}
    )

    assert response.status_code == 202
    assert response.headers["location"].startswith("/v2/acme/b/blobs/uploads/")


async def test_mount_of_a_blob_deleted_from_the_source_is_202(registry: Registry) -> None:
    digest = await registry.push_blob("acme/a", random_blob())
    await registry.client.delete(f"/v2/acme/a/blobs/{digest}")

    response = await registry.client.post(
        "/v2/acme/b/blobs/uploads/", params={"mount": digest, "from": "acme/a"}
    )

    assert response.status_code == 202


@pytest.mark.parametrize("digest", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
async def test_mount_with_malformed_digest_is_400_digest_invalid(
    registry: Registry, digest: str
) -> None:
    response = await registry.client.post(
        "/v2/acme/b/blobs/uploads/", params={"mount": digest, "from": "acme/a"}
    )

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    await assert_no_sessions(registry)


@pytest.mark.parametrize("source", ["Acme/A", "acme/../a", "", "a" * 300])
async def test_mount_from_an_invalid_name_is_400_name_invalid(
    registry: Registry, source: str
) -> None:
    digest = await registry.push_blob("acme/a", random_blob())

    response = await registry.client.post(
        "/v2/acme/b/blobs/uploads/", params={"mount": digest, "from": source}
    )

    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"
    await assert_no_sessions(registry)


# Limits and broken connections


@pytest.mark.settings(max_blob_size=1000)
async def test_single_post_above_max_blob_size_is_413(registry: Registry) -> None:
    data = random_blob(1001)

    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
    )

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert "1000" in message(response)
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)


@pytest.mark.settings(max_blob_size=1000)
async def test_blob_of_exactly_max_blob_size_is_accepted(registry: Registry) -> None:
    await registry.push_blob(NAME, random_blob(1000))


@pytest.mark.settings(max_blob_size=1000)
async def test_chunk_that_takes_the_upload_past_max_blob_size_is_413(registry: Registry) -> None:
    location = await registry.start_upload(NAME)
    assert (await patch(registry, location, random_blob(600), 0)).status_code == 202

    response = await patch(registry, location, random_blob(600), 600)

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert "1000" in message(response)
    assert (await status(registry, location)).headers["range"] == "0-599"
    await assert_nothing_published(registry)


@pytest.mark.settings(max_blob_size=1000)
async def test_streamed_chunk_without_length_past_max_blob_size_is_413(
    registry: Registry,
) -> None:
    location = await registry.start_upload(NAME)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield random_blob(300)

    response = await registry.client.patch(location, content=body())

    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"
    assert (await registry.rows("uploads"))[0]["size"] == 0
    assert await registry.stored_size(f"uploads/{upload_id(location)}.upload") == 0


async def test_client_disconnect_mid_patch_keeps_the_session_at_its_previous_size(
    registry: Registry,
) -> None:
    data = random_blob(300)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data[:100], 0)

    response = await registry.raw(
        "PATCH",
        location,
        headers={"content-range": "100-299", "content-length": "200"},
        body=[data[100:150], data[150:180]],
        disconnect=True,
    )

    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert "disconnect" in message(response)
    assert (await status(registry, location)).headers["range"] == "0-99"
    (partial,) = registry.stored_files("uploads/")
    assert await registry.stored_size(partial) == 100
    await assert_nothing_published(registry)

    resumed = await patch(registry, location, data[100:], 100)
    assert resumed.status_code == 202
    done = await registry.client.put(location, params={"digest": digest_of(data)})
    assert done.status_code == 201
    assert (await registry.client.get(done.headers["location"])).content == data


async def test_client_disconnect_mid_final_put_publishes_nothing(registry: Registry) -> None:
    data = random_blob(300)
    location = await registry.start_upload(NAME)
    await patch(registry, location, data[:100], 0)

    response = await registry.raw(
        "PUT",
        location,
        query=f"digest={digest_of(data)}".encode(),
        headers={"content-length": "200"},
        body=[data[100:200]],
        disconnect=True,
    )

    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    await assert_nothing_published(registry)
    assert (await status(registry, location)).headers["range"] == "0-99"


async def test_client_disconnect_mid_single_post_publishes_nothing(registry: Registry) -> None:
    data = random_blob(300)

    response = await registry.raw(
        "POST",
        f"/v2/{NAME}/blobs/uploads/",
        query=f"digest={digest_of(data)}".encode(),
        headers={"content-length": "300"},
        body=[data[:100]],
        disconnect=True,
    )

    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    await assert_nothing_published(registry)
    await assert_no_sessions(registry)


# How many sessions one may hold open


@pytest.mark.settings(max_open_uploads=3)
async def test_open_sessions_are_capped_per_client_address_without_auth(
    registry: Registry,
) -> None:
    locations = [await registry.start_upload(NAME) for _ in range(3)]

    refused = await registry.client.post(f"/v2/{NAME}/blobs/uploads/")
    transport = httpx.ASGITransport(app=registry.app, client=("192.0.2.5", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as other:
        elsewhere = await other.post(f"/v2/{NAME}/blobs/uploads/")
    await registry.client.delete(locations[0])
    after_cancel = await registry.client.post(f"/v2/{NAME}/blobs/uploads/")

    assert refused.status_code == 429
    assert error_code(refused) == "TOOMANYREQUESTS"
    assert int(refused.headers["retry-after"]) > 0
    assert "cancel" in refused.json()["errors"][0]["message"]
    assert refused.json()["errors"][0]["detail"] == {"open": 3, "limit": 3}
    assert len(await registry.rows("uploads")) == 4
    assert elsewhere.status_code == 202
    assert after_cancel.status_code == 202


@pytest.mark.settings(max_open_uploads=2, upload_idle_expiry=60)
async def test_idle_sessions_do_not_count_against_the_cap(registry: Registry) -> None:
    for _ in range(2):
        await registry.start_upload(NAME)
    await registry.context.db.execute("UPDATE uploads SET updated_at = updated_at - 3600")

    response = await registry.client.post(f"/v2/{NAME}/blobs/uploads/")

    assert response.status_code == 202


@pytest.mark.settings(max_open_uploads=1)
async def test_monolithic_uploads_are_not_held_back_by_the_cap(registry: Registry) -> None:
    await registry.start_upload(NAME)
    data = random_blob()

    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
    )

    assert response.status_code == 201
