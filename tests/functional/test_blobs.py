"""GET, HEAD and DELETE /v2/<name>/blobs/<digest> (end-2, end-10)."""

from __future__ import annotations

import hashlib

import pytest

from tests.functional.registry import (
    BAD_DIGESTS,
    UNKNOWN_DIGEST,
    Registry,
    digest_of,
    error_code,
    random_blob,
)

NAME = "acme/web"


async def test_get_blob_returns_the_bytes_with_digest_length_and_etag(registry: Registry) -> None:
    data = random_blob(3000)
    digest = await registry.push_blob(NAME, data)

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["etag"] == f'"{digest}"'


async def test_head_blob_has_digest_and_length_but_no_body(registry: Registry) -> None:
    data = random_blob(3000)
    digest = await registry.push_blob(NAME, data)

    response = await registry.raw("HEAD", f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["etag"] == f'"{digest}"'


@pytest.mark.parametrize(
    "path",
    [
        f"/v2/{NAME}/blobs/{UNKNOWN_DIGEST}",
        f"/v2/{NAME}/manifests/{UNKNOWN_DIGEST}",
        f"/v2/{NAME}/manifests/no-such-tag",
        "/v2/acme/unknown/blobs/" + UNKNOWN_DIGEST,
    ],
)
async def test_an_error_answer_to_head_has_its_status_and_headers_but_no_body(
    registry: Registry, path: str
) -> None:
    response = await registry.raw("HEAD", path)

    assert response.status_code == 404
    assert response.content == b""
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_sha512_blob_is_pushed_and_pulled_by_its_sha512_digest(registry: Registry) -> None:
    data = random_blob(2000)
    digest = digest_of(data, "sha512")
    pushed = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=data
    )
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["docker-content-digest"] == digest

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["docker-content-digest"] == digest
    sha256 = await registry.client.head(f"/v2/{NAME}/blobs/{digest_of(data)}")
    assert sha256.status_code == 404


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, 2999),
        ("bytes=-50", 2950, 2999),
        ("bytes=2990-5000", 2990, 2999),
        ("bytes=-5000", 0, 2999),
        ("bytes=7-7", 7, 7),
    ],
)
async def test_blob_range_is_206_with_content_range(
    registry: Registry, header: str, start: int, end: int
) -> None:
    data = random_blob(3000)
    digest = await registry.push_blob(NAME, data)

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": header})

    assert response.status_code == 206
    assert response.content == data[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["docker-content-digest"] == digest


async def test_interrupted_pull_resumes_with_range(registry: Registry) -> None:
    data = random_blob(3 * 1024 * 1024 + 17)
    digest = await registry.push_blob(NAME, data)
    url = f"/v2/{NAME}/blobs/{digest}"

    first = await registry.client.get(url)
    assert first.status_code == 200
    received = first.content[: 1024 * 1024 + 3]  # the connection dropped here
    rest = await registry.client.get(url, headers={"Range": f"bytes={len(received)}-"})

    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {len(received)}-{len(data) - 1}/{len(data)}"
    assert hashlib.sha256(received + rest.content).hexdigest() == digest.split(":")[1]


@pytest.mark.parametrize("header", ["bytes=3000-", "bytes=5000-6000", "bytes=10-5", "bytes=-0"])
async def test_unsatisfiable_blob_range_is_416(registry: Registry, header: str) -> None:
    data = random_blob(3000)
    digest = await registry.push_blob(NAME, data)

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": header})

    assert response.status_code == 416
    assert error_code(response) == "SIZE_INVALID"
    assert response.headers["content-range"] == "bytes */3000"
    assert "3000" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("header", ["items=0-5", "bytes=0-1,5-6", "bytes=a-b", "bytes=-"])
async def test_range_the_server_does_not_understand_sends_the_whole_blob(
    registry: Registry, header: str
) -> None:
    data = random_blob(100)
    digest = await registry.push_blob(NAME, data)

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": header})

    assert response.status_code == 200
    assert response.content == data


async def test_range_with_a_huge_end_is_clamped_not_a_server_error(registry: Registry) -> None:
    data = random_blob(100)
    digest = await registry.push_blob(NAME, data)

    response = await registry.client.get(
        f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=0-" + "9" * 5000}
    )

    assert response.status_code == 206
    assert response.content == data
    assert response.headers["content-range"] == "bytes 0-99/100"


async def test_range_with_a_huge_start_is_416_not_a_server_error(registry: Registry) -> None:
    data = random_blob(100)
    digest = await registry.push_blob(NAME, data)

    response = await registry.client.get(
        f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=" + "9" * 5000 + "-"}
    )

    assert response.status_code == 416
    assert error_code(response) == "SIZE_INVALID"


async def test_suffix_range_on_an_empty_blob_sends_the_empty_blob(registry: Registry) -> None:
    digest = await registry.push_blob(NAME, b"")

    response = await registry.client.get(
        f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=-5"}
    )

    assert response.status_code == 200, response.headers.get("content-range")
    assert response.content == b""
    assert "content-range" not in response.headers


async def test_blob_pushed_to_one_repository_is_unknown_in_another(registry: Registry) -> None:
    data = random_blob()
    digest = await registry.push_blob("acme/a", data)
    await registry.push_blob("acme/b", random_blob())

    for method in ("GET", "HEAD"):
        response = await registry.client.request(method, f"/v2/acme/b/blobs/{digest}")
        assert response.status_code == 404
    response = await registry.client.get(f"/v2/acme/b/blobs/{digest}")
    assert error_code(response) == "BLOB_UNKNOWN"
    assert digest in response.json()["errors"][0]["message"]


async def test_blob_in_a_repository_that_does_not_exist_is_name_unknown(
    registry: Registry,
) -> None:
    digest = await registry.push_blob("acme/a", random_blob())

    response = await registry.client.get(f"/v2/acme/nothing/blobs/{digest}")

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"
    assert "acme/nothing" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("digest", [UNKNOWN_DIGEST, "sha512:" + "0" * 128])
async def test_unknown_blob_is_404_blob_unknown(registry: Registry, digest: str) -> None:
    await registry.push_blob(NAME, random_blob())

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"


async def test_blob_whose_bytes_are_gone_from_storage_is_404_not_500(registry: Registry) -> None:
    data = random_blob()
    digest = await registry.push_blob(NAME, data)
    (path,) = registry.stored_files("blobs/")
    await registry.remove_stored(path)

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("digest", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
async def test_malformed_blob_digest_is_400_digest_invalid(
    registry: Registry, method: str, digest: str
) -> None:
    await registry.push_blob(NAME, random_blob())

    response = await registry.client.request(method, f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert "digest" in response.json()["errors"][0]["message"]


async def test_head_with_malformed_digest_is_400(registry: Registry) -> None:
    response = await registry.client.head(f"/v2/{NAME}/blobs/sha256:xyz")
    assert response.status_code == 400


async def test_delete_blob_is_202_then_404(registry: Registry) -> None:
    data = random_blob()
    digest = await registry.push_blob(NAME, data)

    deleted = await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")
    assert deleted.status_code == 202

    for method in ("GET", "HEAD"):
        after = await registry.client.request(method, f"/v2/{NAME}/blobs/{digest}")
        assert after.status_code == 404
    after = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")
    assert error_code(after) == "BLOB_UNKNOWN"
    again = await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")
    assert again.status_code == 404
    assert error_code(again) == "BLOB_UNKNOWN"


async def test_delete_blob_unlinks_it_from_one_repository_only(registry: Registry) -> None:
    data = random_blob()
    digest = await registry.push_blob("acme/a", data)
    await registry.push_blob("acme/b", data)

    deleted = await registry.client.delete(f"/v2/acme/a/blobs/{digest}")
    assert deleted.status_code == 202

    assert (await registry.client.get(f"/v2/acme/a/blobs/{digest}")).status_code == 404
    other = await registry.client.get(f"/v2/acme/b/blobs/{digest}")
    assert other.status_code == 200
    assert other.content == data


async def test_delete_blob_leaves_the_bytes_for_garbage_collection(registry: Registry) -> None:
    digest = await registry.push_blob(NAME, random_blob())

    deleted = await registry.client.delete(f"/v2/{NAME}/blobs/{digest}")

    assert deleted.status_code == 202
    assert await registry.rows("package_blobs") == []
    assert [row["digest"] for row in await registry.rows("blobs")] == [digest]
    assert len(registry.stored_files("blobs/")) == 1


async def test_delete_blob_in_unknown_repository_is_name_unknown(registry: Registry) -> None:
    response = await registry.client.delete(f"/v2/acme/nothing/blobs/{UNKNOWN_DIGEST}")

    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"


async def test_digest_with_encoded_slashes_reads_nothing_outside_the_store(
    registry: Registry,
) -> None:
    await registry.push_blob(NAME, random_blob())

    response = await registry.raw("GET", f"/v2/{NAME}/blobs/sha256:..%2F..%2Fcargohold.db")

    assert response.status_code == 404
    assert error_code(response) == "UNSUPPORTED"
