"""Settings of the scale-out configuration: checked when read, not at first use."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cargohold.config import Settings


def test_postgres_urls_are_accepted_and_recognised() -> None:
    for url in ("postgresql://u@db:5432/cargohold", "postgres://u:p@db/cargohold"):
        settings = Settings(database_url=url)
        assert settings.is_postgres
        with pytest.raises(ValueError, match="not SQLite"):
            _ = settings.sqlite_path
    assert not Settings(database_url="sqlite:///x.db").is_postgres
    assert not Settings().is_postgres


def test_other_database_urls_are_refused() -> None:
    with pytest.raises(ValidationError, match="database_url"):
        Settings(database_url="mysql://db/x")


def test_s3_needs_a_bucket() -> None:
    with pytest.raises(ValidationError, match="s3_bucket"):
        Settings(storage="s3")
    assert Settings(storage="s3", s3_bucket="blobs").s3_part_size >= 5 * 1024 * 1024


def test_parts_must_be_at_least_five_mib() -> None:
    with pytest.raises(ValidationError):
        Settings(storage="s3", s3_bucket="b", s3_part_size=1024)


def test_tls_needs_certificate_and_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tls_cert and tls_key"):
        Settings(tls_cert=tmp_path / "cert.pem")
    settings = Settings(tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem")
    assert settings.tls_key == tmp_path / "key.pem"


def test_scale_out_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_STORAGE", "s3")
    monkeypatch.setenv("CARGOHOLD_S3_BUCKET", "blobs")
    monkeypatch.setenv("CARGOHOLD_S3_PATH_STYLE", "true")
    monkeypatch.setenv("CARGOHOLD_BLOB_REDIRECT", "1")
    monkeypatch.setenv("CARGOHOLD_TRUST_PROXY_HEADERS", "true")
    settings = Settings()
    assert (settings.s3_bucket, settings.s3_path_style) == ("blobs", True)
    assert settings.blob_redirect and settings.trust_proxy_headers
