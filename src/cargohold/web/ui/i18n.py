"""Languages: Babel catalogs (the .po files are compiled in memory when first used), the
locale of a request (the language setting, else Accept-Language), and locale-aware
formatting of dates and sizes."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from babel.units import format_unit
from starlette.requests import Request

LANGUAGES = {"en": "English", "ja": "日本語"}
DEFAULT = "en"
COOKIE = "cargohold_lang"
LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def translations(language: str) -> NullTranslations:
    """The catalog of a language, compiled from its .po file (English is the source)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not po.is_file():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    weighted: list[tuple[float, str]] = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag.strip().lower().split("-")[0]))
    for _, language in sorted(weighted, key=lambda item: -item[0]):
        if language in LANGUAGES:
            return language
    return DEFAULT


def format_time(timestamp: float | None, language: str) -> str:
    if not timestamp:
        return "—"
    moment = datetime.fromtimestamp(timestamp, UTC)
    return format_datetime(moment, "medium", tzinfo=UTC, locale=Locale.parse(language)) + " UTC"


def iso_time(timestamp: float) -> str:
    """A time for `<time datetime>`: RFC 3339, UTC."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def format_ago(timestamp: float | None, now: float, language: str) -> str:
    """How long ago, as the locale says it ("2 minutes ago", "2 分前"); a time a little
    ahead of `now` (clocks of two nodes) reads as now."""
    if not timestamp:
        return "—"
    return format_timedelta(
        min(round(timestamp - now), -1), add_direction=True, locale=Locale.parse(language)
    )


def format_iso_time(text: object, language: str) -> str:
    """An RFC 3339 time from an image config, as the locale writes times; else as given."""
    if not isinstance(text, str) or not text:
        return "—"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text[:64]
    return format_time(moment.timestamp(), language)


_UNITS = ((1000**3, "GB"), (1000**2, "MB"), (1000, "kB"))


def format_size(size: int | None, language: str) -> str:
    """A size in bytes, in decimal units (kB = 1000 bytes): the number as the locale writes
    it, the same unit symbols in every language, and bytes spelled out ("777 bytes",
    "777 バイト")."""
    value = size or 0
    locale = Locale.parse(language)
    for factor, unit in _UNITS:
        if value >= factor:
            return f"{format_decimal(round(value / factor, 1), locale=locale)} {unit}"
    return format_unit(value, "digital-byte", length="long", locale=locale)


def format_number(value: int, language: str) -> str:
    return format_decimal(value, locale=Locale.parse(language))
