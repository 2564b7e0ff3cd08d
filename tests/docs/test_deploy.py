"""docs/deploy.md works when followed: its environment file, systemd unit and nginx site are
taken from the page as written (fenced blocks) and checked by what reads them in production.

- the environment file is read by the rules of systemd's EnvironmentFile= (systemd.exec(5))
  and of `docker run --env-file`, which must agree, and every value must be a valid setting;
- the unit passes `systemd-analyze verify` (its program and file paths pointed at this
  checkout and a temporary folder);
- the nginx site passes `nginx -t` on Debian's nginx (a throwaway certificate, paths moved
  into a temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cargohold.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy.md"
ENV_FILE = "/etc/cargohold/cargohold.env"
UNIT_FILE = "/etc/systemd/system/cargohold.service"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DEPLOY.read_text()) if lang == language]


def block(language: str, first_line: str) -> str:
    """The one fenced block of `language` whose first line names the file."""
    found = [body for body in blocks(language) if body.splitlines()[0].strip() == first_line]
    assert len(found) == 1, f"docs/deploy.md: expected one {language} block starting {first_line!r}"
    return found[0]


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    assert path is not None, f"{name!r} is not installed (scripts/install-deps installs it)"
    return path


# --------------------------------------------------------------------------- environment files


NEWLINE = "\n\r"
WHITESPACE = " \t\n\r"
SHELL_NEED_ESCAPE = '"\\`$'


def parse_systemd_environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd reads an EnvironmentFile= (systemd.exec(5)); the states
    are those of systemd's own reader (src/basic/env-file.c):

    - a line whose first non-blank character is `#` or `;` is a comment; a `#` anywhere
      else is part of the value; a line without `=` is ignored;
    - blanks around the key and at both ends of an unquoted value are dropped, blanks inside
      are kept; in an unquoted value a backslash keeps the next character (a backslash at
      the end of a line joins the next line), and quotes are ordinary characters;
    - a value that starts with a quote is shell-like: verbatim in single quotes, and in
      double quotes a backslash escapes `"`, `\\`, `` ` ``, `$` and a newline; what follows
      the closing quote is appended.
    """
    env: dict[str, str] = {}
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    trailing = 0  # blanks at the end of an unquoted value, dropped if the line ends there

    def push() -> None:
        name = "".join(key).rstrip(WHITESPACE)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            env[name] = "".join(value[: len(value) - trailing])

    for c in text:
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in WHITESPACE:
                state, key, value, trailing = "key", [c], [], 0
        elif state == "key":
            if c in NEWLINE:
                state = "pre_key"  # no `=`: ignored
            elif c == "=":
                state = "pre_value"
            else:
                key.append(c)
        elif state == "pre_value":
            if c in NEWLINE:
                state = "pre_key"
                push()
            elif c == "'":
                state = "single"
            elif c == '"':
                state = "double"
            elif c == "\\":
                state = "value_escape"
            elif c not in WHITESPACE:
                state, trailing = "value", 0
                value.append(c)
        elif state == "value":
            if c in NEWLINE:
                state = "pre_key"
                push()
            elif c == "\\":
                state, trailing = "value_escape", 0
            else:
                trailing = trailing + 1 if c in WHITESPACE else 0
                value.append(c)
        elif state == "value_escape":
            state = "value"
            if c not in NEWLINE:
                value.append(c)
        elif state == "single":
            if c == "'":
                state, trailing = "pre_value", 0
            else:
                value.append(c)
        elif state == "double":
            if c == '"':
                state, trailing = "pre_value", 0
            elif c == "\\":
                state = "double_escape"
            else:
                value.append(c)
        elif state == "double_escape":
            state = "double"
            if c in SHELL_NEED_ESCAPE:
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in NEWLINE:
                state = "pre_key"
        elif state == "comment_escape":  # since systemd 254: the next line is no comment
            state = "pre_key" if c in NEWLINE else "comment"
    if state in ("pre_value", "value", "value_escape", "single", "double", "double_escape"):
        push()
    return env


def parse_docker_env_file(text: str) -> dict[str, str]:
    """`docker run --env-file`: a `#` at the start of a line is a comment; everything after
    the first `=` is the value as it stands (no quotes, no escapes, blanks kept)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        assert sep, f"docker --env-file would read {key!r} from the calling environment"
        env[key] = value
    return env


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1 # one\n", {"A": "1 # one"}),
        ("# A=1\n  ; B=2\nC=3\n", {"C": "3"}),
        ("A =  spaced  value  \n", {"A": "spaced  value"}),
        ('A=\'x # y\' and\nB="a\\"b\\$c\\d"\n', {"A": "x # yand", "B": 'a"b$c\\d'}),
        ('A=it\'s "so"\n', {"A": 'it\'s "so"'}),
        ("A=one\\\ntwo\nB=a\\b\n", {"A": "onetwo", "B": "ab"}),
        ("A=1\r\nnonsense\nB=\nC='open", {"A": "1", "B": "", "C": "open"}),
        ("# a comment \\\nA=1\n", {"A": "1"}),
    ],
)
def test_the_environment_file_reader_follows_systemd(text: str, expected: dict[str, str]) -> None:
    assert parse_systemd_environment_file(text) == expected


def environment_files() -> list[str]:
    """Every environment file the page shows (a block whose first line is `# PATH.env ...`):
    the cluster's, for systemd, and the container's, for docker."""
    found = [body for body in blocks("sh") if body.startswith("# ") and ".env" in body.split()[1]]
    assert found, "docs/deploy.md shows no environment file"
    return found


@pytest.mark.parametrize("text", environment_files(), ids=lambda text: text.split()[1])
def test_every_value_of_the_documented_environment_files_is_a_valid_setting(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = parse_systemd_environment_file(text)
    assert env, text
    fields = {f"CARGOHOLD_{name.upper()}" for name in Settings.model_fields}
    assert sorted(set(env) - fields) == [], "not a setting"
    for key in [key for key in os.environ if key.startswith("CARGOHOLD_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Settings()  # every value valid
    # No comment after a value: systemd and docker keep it as part of the value.
    assert not [key for key, value in env.items() if "#" in value]
    # The same file works with `docker run --env-file`.
    assert parse_docker_env_file(text) == env
    # A comment ending in a backslash hides the next line before systemd 254 (Debian 12).
    assert not [line for line in text.splitlines() if line.rstrip().endswith("\\")]


# --------------------------------------------------------------------------- the systemd unit


def test_the_documented_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = block("ini", f"# {UNIT_FILE}")
    program = re.search(r"^ExecStart=(\S+)", unit, re.M)
    assert program is not None
    env_file = tmp_path / "cargohold.env"
    documented = [text for text in environment_files() if text.split()[1] == ENV_FILE]
    assert len(documented) == 1, f"docs/deploy.md: no block starting # {ENV_FILE}"
    env_file.write_text(documented[0])
    cargohold = str(
        Path(shutil.which("cargohold") or ROOT / ".venv" / "bin" / "cargohold").resolve()
    )
    local = unit.replace(program.group(1), cargohold).replace(ENV_FILE, str(env_file))
    path = tmp_path / "cargohold.service"
    path.write_text(local)
    done = subprocess.run(
        [tool("systemd-analyze"), "verify", "--man=no", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0 and not report.strip(), report


# --------------------------------------------------------------------------- nginx


def test_the_documented_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    site = block("nginx", "upstream cargohold {")
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    subprocess.run(
        [tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=registry.example.com",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    paths = dict(re.findall(r"^\s*(ssl_certificate(?:_key)?)\s+(\S+);", site, re.M))
    assert set(paths) == {"ssl_certificate", "ssl_certificate_key"}, site
    site = site.replace(paths["ssl_certificate"], str(cert))
    site = site.replace(paths["ssl_certificate_key"], str(key))
    (tmp_path / "registry.conf").write_text(site)
    temp = tmp_path / "temp"
    temp.mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        "http {\n"
        f"    access_log {tmp_path / 'access.log'};\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    include {tmp_path / 'registry.conf'};\n"
        "}\n"
    )
    done = subprocess.run(
        [tool("nginx"), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-c", str(main)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "[warn]" not in report and "[emerg]" not in report, report
