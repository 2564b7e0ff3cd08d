"""A small OpenID issuer on 127.0.0.1 with keys of its own, for the functional tests.

It serves discovery and a JWK set, mints ID tokens with any claims, algorithm or key (also
keys it does not publish, and tokens no provider would sign: `alg: none`, HS256 with the
public key), and plays the provider's side of single sign-on (authorization code + PKCE,
the token endpoint, userinfo) for a person the test names beforehand. Each test gets a
fresh issuer path on one server (`IssuerServer.issuer()`), so that no key cache carries
over from another test. The real, certified provider (tests/oidc/provider) covers the same
ground against real clients.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Key:
    kid: str
    algorithm: str
    private: PrivateKey
    published: bool = True

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            found = json.loads(RSAAlgorithm.to_jwk(public))
        elif isinstance(public, ec.EllipticCurvePublicKey):
            found = json.loads(ECAlgorithm.to_jwk(public))
        else:
            found = json.loads(OKPAlgorithm.to_jwk(public))
        return {**found, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_key(kid: str, algorithm: str = "RS256") -> Key:
    if algorithm.startswith(("RS", "PS")):
        private: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(algorithm)
    return Key(kid, algorithm, private)


@dataclass
class Person:
    """Who signs in at the next authorization request (single sign-on)."""

    subject: str
    email: str | None
    email_verified: bool | None = True
    name: str | None = None
    claims_in_id_token: bool = True  # else only userinfo has the email


@dataclass
class Issuer:
    server: IssuerServer
    name: str
    keys: dict[str, Key] = field(default_factory=dict)
    fetches: list[str] = field(default_factory=list)  # paths asked for, in order
    client_id: str = "cargohold-ui"
    client_secret: str = "ui-secret"
    person: Person | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, Person] = field(default_factory=dict)
    discovery_issuer: str | None = None  # what discovery claims (None: the right URL)

    @property
    def url(self) -> str:
        return f"{self.server.url}/{self.name}"

    def add_key(self, kid: str, algorithm: str = "RS256", *, published: bool = True) -> Key:
        key = new_key(kid, algorithm)
        key.published = published
        self.keys[kid] = key
        return key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys.values() if key.published]}

    def mint(
        self,
        claims: dict[str, Any] | None = None,
        *,
        audience: str | list[str] = "cargohold",
        kid: str | None = "main",
        lifetime: int = 300,
        issued_at: float | None = None,
        issuer: str | None = None,
        headers: dict[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        """An ID token signed with key `kid` (its own algorithm)."""
        now = int(time.time() if issued_at is None else issued_at)
        body = {
            "iss": issuer or self.url,
            "aud": audience,
            "sub": "pipeline",
            "iat": now,
            "exp": now + lifetime,
            **(claims or {}),
            **extra,
        }
        body = {k: v for k, v in body.items() if v is not None}
        key = self.keys[kid or "main"]
        head = {"kid": kid} if kid is not None else {}
        head.update(headers or {})
        return jwt.encode(body, key.private, algorithm=key.algorithm, headers=head)

    def unsigned(self, claims: dict[str, Any], **kw: Any) -> str:
        """A token with `alg: none` (no signature at all)."""
        token = self.mint(claims, **kw)
        header, payload, _ = token.split(".")
        head = json.loads(base64.urlsafe_b64decode(header + "=="))
        head["alg"] = "none"
        return f"{_b64(json.dumps(head).encode())}.{payload}."

    def hs256_with_public_key(self, claims: dict[str, Any], kid: str = "main", **kw: Any) -> str:
        """The classic confusion attack: HS256 keyed with the issuer's public key (PEM)."""
        token = self.mint(claims, kid=kid, **kw)
        _, payload, _ = token.split(".")
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        signing_input = f"{header}.{payload}".encode()
        import hmac

        mac = hmac.new(self.keys[kid].public_pem(), signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(mac)}"

    # --- single sign-on: the provider's side

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.discovery_issuer or self.url,
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Signs the named person in at once and sends the browser back with a code."""
        if self.person is None or query.get("client_id") != self.client_id:
            return 400, {}, b"unknown client or nobody to sign in"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "person": self.person}
        target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
        return 302, {"Location": target}, b""

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, Any]:
        secret = None
        if authorization and authorization.startswith("Basic "):
            client, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        else:
            client, secret = form.get("client_id", ""), form.get("client_secret")
        if client != self.client_id or secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        if grant.get("code_challenge_method") != "S256" or challenge != grant["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE failed"}
        person: Person = grant["person"]
        claims: dict[str, Any] = {"sub": person.subject, "nonce": grant.get("nonce")}
        if person.claims_in_id_token:
            claims.update(email=person.email, email_verified=person.email_verified)
            claims["name"] = person.name
        access = secrets.token_urlsafe(16)
        self.access_tokens[access] = person
        id_token = self.mint(claims, audience=self.client_id, azp=self.client_id)
        return 200, {"id_token": id_token, "access_token": access, "token_type": "Bearer"}

    def userinfo(self, authorization: str | None) -> tuple[int, Any]:
        person = self.access_tokens.get((authorization or "").removeprefix("Bearer "))
        if person is None:
            return 401, {"error": "invalid_token"}
        info = {
            "sub": person.subject,
            "email": person.email,
            "email_verified": person.email_verified,
        }
        return 200, {k: v for k, v in info.items() if v is not None}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _issuer(self) -> tuple[Issuer | None, str, dict[str, str]]:
        parts = urlsplit(self.path)
        name, _, rest = parts.path.lstrip("/").partition("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        issuer = self.server.owner.issuers.get(name)
        if issuer is not None:
            issuer.fetches.append("/" + rest)
        return issuer, "/" + rest, query

    def do_GET(self) -> None:
        issuer, path, query = self._issuer()
        override = self.server.owner.answers.get(self.path.split("?")[0])
        if override is not None:
            self._send(*override)
            return
        if issuer is None:
            self._send(404, {"error": "no such issuer"})
        elif path == "/.well-known/openid-configuration":
            self._send(200, issuer.discovery())
        elif path == "/jwks":
            self._send(200, issuer.jwks())
        elif path == "/authorize":
            status, headers, body = issuer.authorize(query)
            self._send(status, body, headers)
        elif path == "/userinfo":
            self._send(*issuer.userinfo(self.headers.get("Authorization")))
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        issuer, path, _ = self._issuer()
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if issuer is None or path != "/token":
            self._send(404, {"error": "not found"})
            return
        self._send(*issuer.token(form, self.headers.get("Authorization")))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: IssuerServer


class IssuerServer:
    """The HTTP server behind every test issuer: 127.0.0.1, a free port, a thread."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.issuers: dict[str, Issuer] = {}
        self.answers: dict[str, tuple[int, Any]] = {}  # path -> a fixed answer
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def issuer(self, name: str | None = None, *, algorithm: str = "RS256") -> Issuer:
        """A new issuer at its own path, with one published key `main`."""
        found = Issuer(self, name or f"issuer-{secrets.token_hex(4)}")
        found.add_key("main", algorithm)
        self.issuers[found.name] = found
        return found

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def issuer_server() -> Iterator[IssuerServer]:
    server = IssuerServer()
    try:
        yield server
    finally:
        server.close()
