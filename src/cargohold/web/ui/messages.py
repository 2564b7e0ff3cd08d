"""Service errors in the reader's words and language.

The services raise errors with English messages meant for API clients and the CLI
("untagged_days must be a whole number from 1 to 3650, not 0"). The UI shows them
through `say`: each known message is listed once below as the template the service
writes (placeholders `%(name)s` stand for the values it names) beside the sentence a
person reads on a page, a catalog message (so it is translated like every other UI
string, and may name things as the page does: "package name", not the registry's
"repository name"). The values are carried over; those that are words of the product
(roles, the fields of a form) are translated too. A message nobody listed is shown as
the service wrote it, marked as English.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from cargohold.services.errors import Invalid, ServiceError


def _(message: str) -> str:
    """Marks a catalog message (pybabel extracts `_`); translated when shown."""
    return message


# (what the service writes, what a person reads): the same placeholders in both.
KNOWN: tuple[tuple[str, str], ...] = (
    # packages (the "Create package" form): the registry says "repository name" for an
    # image name; here a repository is what a package is linked to
    (
        "invalid repository name %(name)s: use lowercase letters, digits and separators"
        " (. _ __ -), with path components joined by /",
        _(
            "%(name)s is not a valid package name: use lowercase letters, digits and"
            " separators (. _ __ -), with path components joined by /."
        ),
    ),
    (
        "repository name is %(length)s characters long; the limit is %(limit)s",
        _("The package name is %(length)s characters long; the limit is %(limit)s."),
    ),
    (
        "package %(name)s must be named %(workspace)s/NAME to link it to %(repository)s",
        _("To link package %(name)s to %(repository)s, name it %(workspace)s/NAME."),
    ),
    ("package %(name)s already exists", _("Package %(name)s already exists.")),
    ("no package %(name)s", _("There is no package %(name)s.")),
    ("no repository %(name)s", _("There is no repository %(name)s.")),
    ("no workspace %(name)s", _("There is no workspace %(name)s.")),
    (
        "package %(name)s is linked to no repository; link it first",
        _("Package %(name)s is linked to no repository; link it first."),
    ),
    # permissions
    (
        "your %(role)s access to repository %(name)s does not allow this; it needs %(need)s",
        _("Your %(role)s access to repository %(name)s does not allow this; it needs %(need)s."),
    ),
    (
        "your %(role)s access to package %(name)s does not allow this; it needs %(need)s",
        _("Your %(role)s access to package %(name)s does not allow this; it needs %(need)s."),
    ),
    (
        "only owners of workspace %(name)s may do this",
        _("Only owners of workspace %(name)s may do this."),
    ),
    # retention policies and tag protection (package settings)
    (
        "%(field)s must be a whole number from 1 to %(high)s, not %(value)s",
        _("%(field)s must be a whole number from 1 to %(high)s, not %(value)s."),
    ),
    (
        "a retention policy needs at least one of keep_newest, tag_days or untagged_days;"
        " keep patterns alone delete nothing",
        _(
            "A retention policy needs the newest tags to keep, an age for tags or an age for"
            " untagged images; patterns of tags to keep alone delete nothing."
        ),
    ),
    (
        "keep_pattern is longer than %(limit)s characters",
        _("The patterns of tags to keep are longer than %(limit)s characters."),
    ),
    ("package %(name)s has no retention policy", _("Package %(name)s has no retention policy.")),
    (
        "a tag pattern cannot be empty (is there a comma too many?)",
        _("A tag pattern cannot be empty (is there a comma too many?)."),
    ),
    (
        "tag pattern %(pattern)s is longer than %(limit)s characters",
        _("Tag pattern %(pattern)s is longer than %(limit)s characters."),
    ),
    (
        "tag pattern %(pattern)s may contain only letters, digits, '_', '.', '-' and the"
        " wildcards '*' and '?'",
        _(
            "Tag pattern %(pattern)s may contain only letters, digits, _ . - and the"
            " wildcards * and ?."
        ),
    ),
    (
        "at most %(limit)s tag patterns are allowed",
        _("At most %(limit)s tag patterns are allowed."),
    ),
    # tokens
    (
        "a token needs a name of 1 to 100 characters",
        _("A token needs a name of 1 to 100 characters."),
    ),
    ("a token needs at least one scope", _("Choose at least one scope.")),
    (
        "unknown scope %(scope)s; use one of %(scopes)s",
        _("Unknown scope %(scope)s; use one of %(scopes)s."),
    ),
    (
        "invalid duration %(text)s; use e.g. 30d, 12h, 90m or 1y",
        _("%(text)s is not a lifetime; use e.g. 30d, 12h, 90m or 1y."),
    ),
    (
        "this site requires tokens to expire; give a lifetime such as 90d",
        _("Tokens must expire here; choose a lifetime such as 90 days."),
    ),
    ("a token's lifetime must be positive", _("A token's lifetime must be positive.")),
    ("the expiry must be in the future", _("The expiry must be in the future.")),
    (
        "tokens may live at most %(days)s days here",
        _("Tokens may live at most %(days)s days here."),
    ),
    ("no token %(token)s here", _("There is no token %(token)s here.")),
    ("no token %(token)s", _("There is no token %(token)s.")),
    # members and grants
    ("no user with email %(email)s", _("Nobody has the email address %(email)s here.")),
    ("%(email)s is not a member of %(name)s", _("%(email)s is not a member of %(name)s.")),
    ("%(email)s has no grant here", _("%(email)s has no grant here.")),
    (
        "%(name)s needs at least one owner; make someone else an owner first",
        _("%(name)s needs at least one owner; make someone else an owner first."),
    ),
    ("no project %(key)s in %(name)s", _("There is no project %(key)s in %(name)s.")),
    ("unknown role %(role)s; use read, write or admin", _("Choose the role read, write or admin.")),
    ("%(email)s is not an email address", _("%(email)s is not an email address.")),
    ("pick a project or a repository", _("Choose a project or a repository.")),
    # workspaces, projects and repositories
    (
        "invalid workspace %(name)s: use lowercase letters, digits and -, starting with a"
        " letter or digit",
        _(
            "%(name)s is not a valid short name: use lowercase letters, digits and -,"
            " starting with a letter or digit."
        ),
    ),
    ("workspace %(name)s already exists", _("Workspace %(name)s already exists.")),
    ("a workspace name is 1 to 200 characters", _("A name is 1 to 200 characters.")),
    (
        "invalid project key %(key)s: use A-Z, 0-9 and _, e.g. PLAT",
        _("%(key)s is not a valid key: use A-Z, 0-9 and _, e.g. PLAT."),
    ),
    (
        "project %(key)s already exists in %(name)s",
        _("Project %(key)s already exists in %(name)s."),
    ),
    ("a project name is 1 to 200 characters", _("A name is 1 to 200 characters.")),
    ("no project %(key)s in this workspace", _("There is no project %(key)s here.")),
    (
        "invalid repository slug %(name)s: use a-z, 0-9, . _ -",
        _("%(name)s is not a valid repository name: use a-z, 0-9, . _ and -."),
    ),
    ("repository %(name)s already exists", _("Repository %(name)s already exists.")),
    ("a repository is private or public", _("Choose private or public.")),
    # people (site admins) and invitations
    ("a user with email %(email)s already exists", _("%(email)s has an account already.")),
    (
        "%(email)s has an account with a password already",
        _("%(email)s has an account with a password already: there is nothing to invite to."),
    ),
    ("a password needs at least 8 characters", _("A password needs at least 8 characters.")),
    ("only site admins manage people's accounts", _("Only site admins manage accounts.")),
    # replication rules (the replication forms); a URL's refusal (`reason`) is itself one
    # of the messages here. The specific "remote URL: ..." ones come before the general one.
    (
        "remote URL: give the credentials as username and password, not in the URL",
        _("Remote URL: give the credentials as the username and password, not in the URL."),
    ),
    (
        "remote URL: give the registry's address only (https://HOST[:PORT]); where the images"
        " go at the remote is the prefix",
        _(
            "Remote URL: give the registry's address only (https://HOST[:PORT]); where the"
            " images go at the remote is the prefix."
        ),
    ),
    ("remote URL %(url)s: %(reason)s", _("Remote URL %(url)s: %(reason)s")),
    ("remote URL: %(reason)s", _("Remote URL: %(reason)s")),
    (
        "plain http:// goes only to loopback addresses (mirror_allow_http allows it"
        " elsewhere); use https://",
        _(
            "plain http:// goes only to loopback addresses (mirror_allow_http allows it"
            " elsewhere); use https://"
        ),
    ),
    (
        "prefix %(prefix)s: use lowercase letters, digits and separators (. _ -), in"
        " components joined by /",
        _(
            "Prefix %(prefix)s: use lowercase letters, digits and separators (. _ -), in"
            " components joined by /."
        ),
    ),
    (
        "the prefix is longer than %(limit)s characters",
        _("The prefix is longer than %(limit)s characters."),
    ),
    (
        "%(name)s is not a package name of workspace %(workspace)s",
        _("%(name)s is not a package name of workspace %(workspace)s."),
    ),
    (
        "give both a username and a password for the remote, or neither",
        _("Give both a username and a password for the remote, or neither."),
    ),
    (
        "the username must be at most %(limit)s printable characters, without ':'",
        _("The username must be at most %(limit)s printable characters, without a colon (:)."),
    ),
    (
        "the password must be at most %(limit)s printable characters",
        _("The password must be at most %(limit)s printable characters."),
    ),
    (
        "give credentials, or ask for anonymous access, not both",
        _("Give credentials, or ask for anonymous access, not both."),
    ),
    (
        "only owners of workspace %(name)s may replicate the whole workspace; a package's"
        " admins may replicate that package",
        _(
            "Only owners of workspace %(name)s may replicate the whole workspace; a package's"
            " admins may replicate that package."
        ),
    ),
    (
        "your %(role)s access to package %(name)s does not allow this; replication needs admin",
        _("Your %(role)s access to package %(name)s does not allow this; replication needs admin."),
    ),
    (
        "job %(id)s is %(state)s; only a failed job is retried by hand",
        _("Job %(id)s is %(state)s; only a failed job is retried by hand."),
    ),
    (
        "no job %(id)s of replication %(replication)s",
        _("There is no job %(id)s of replication %(replication)s."),
    ),
    ("no replication %(id)s", _("There is no replication %(id)s.")),
    ("no such job", _("There is no such job.")),
    ("unknown action", _("Unknown action.")),
    # webhooks; a URL's refusal (`reason`) is itself one of the messages here
    ("webhook URL %(url)s: %(reason)s", _("Webhook URL %(url)s: %(reason)s")),
    ("webhook URL: %(reason)s", _("Webhook URL: %(reason)s")),
    ("not a valid URL", _("not a valid URL")),
    ("%(host)s does not resolve", _("%(host)s does not resolve")),
    (
        "the URL must start with https:// or http://",
        _("the URL must start with https:// or http://"),
    ),
    ("the URL must start with %(schemes)s", _("the URL must start with %(schemes)s")),
    ("the URL has no host", _("the URL has no host")),
    ("the URL may not name a network interface", _("the URL may not name a network interface")),
    ("the URL may not have a #fragment", _("the URL may not have a #fragment")),
    (
        "plain http:// goes only to allowed networks; use https://",
        _("plain http:// goes only to allowed networks; use https://"),
    ),
    (
        "%(address)s is a %(kind)s address, which outbound requests may not reach",
        _("%(address)s is a %(kind)s address, which outbound requests may not reach"),
    ),
    (
        "the URL is longer than %(limit)s characters",
        _("The URL is longer than %(limit)s characters."),
    ),
    (
        "unknown event type %(name)s; use * or some of: %(names)s",
        _("Unknown event type %(name)s; use * or some of: %(names)s."),
    ),
    (
        "name at least one event type (* for every one)",
        _("Choose at least one event type (* for every one)."),
    ),
    (
        "package filter %(pattern)s: use a package name of workspace %(name)s, with * and ? as"
        " wildcards",
        _(
            "Package filter %(pattern)s: use a package name of workspace %(name)s, with * and ?"
            " as wildcards."
        ),
    ),
    ("format must be one of %(formats)s", _("Choose the format %(formats)s.")),
    (
        "the secret must be %(low)s to %(high)s printable characters without spaces (or leave"
        " it out to have one made)",
        _(
            "The secret must be %(low)s to %(high)s printable characters without spaces (or"
            " leave it empty to have one made)."
        ),
    ),
    (
        "webhook %(id)s is turned off; turn it on to deliver again",
        _("Webhook %(id)s is turned off; turn it on to deliver again."),
    ),
    (
        "your %(role)s access to package %(name)s does not allow this; webhooks need admin",
        _("Your %(role)s access to package %(name)s does not allow this; webhooks need admin."),
    ),
    # trust policies for CI
    (
        "a trust policy's lifetime is 1 minute to 1 hour (e.g. 15m, 1h)",
        _("A trust policy's lifetime is 1 minute to 1 hour (e.g. 15m, 1h)."),
    ),
    ("a trust policy grants read, write or admin", _("Choose the role read, write or admin.")),
    (
        "a trust policy needs at least one claim condition, such as repository=acme/web (an"
        " issuer's tokens are often available to anyone who runs a pipeline there)",
        _(
            "A trust policy needs at least one claim condition, such as repository=acme/web (an"
            " issuer's tokens are often available to anyone who runs a pipeline there)."
        ),
    ),
    (
        "the %(field)s needs 1 to %(limit)s printable characters",
        _("%(field)s needs 1 to %(limit)s printable characters."),
    ),
    # single sign-on: why a sign-in was refused, or failed at the provider (the sign-in page)
    (
        "the provider has not verified the email address %(email)s; an account is linked by a"
        " verified email address only",
        _(
            "The provider has not verified the email address %(email)s; an account is linked"
            " by a verified email address only."
        ),
    ),
    (
        "the provider did not say which email address signed in",
        _("The provider did not say which email address signed in."),
    ),
    (
        "there is no account for %(email)s; ask an administrator to invite you (cargohold"
        " user create %(command)s)",
        _(
            "There is no account for %(email)s; ask an administrator to invite you (cargohold"
            " user create %(command)s)."
        ),
    ),
    (
        "%(email)s may not sign in here; single sign-on is open to %(domains)s",
        _("%(email)s may not sign in here; single sign-on is open to %(domains)s."),
    ),
    (
        "the provider's token endpoint answered HTTP %(status)s (%(error)s)",
        _("The provider's token endpoint answered HTTP %(status)s (%(error)s)."),
    ),
    (
        "the provider's token endpoint answered HTTP %(status)s",
        _("The provider's token endpoint answered HTTP %(status)s."),
    ),
    (
        "the provider's token endpoint sent no ID token",
        _("The provider's token endpoint sent no ID token."),
    ),
    (
        "the ID token comes from another issuer (%(issuer)s)",
        _("The ID token comes from another issuer (%(issuer)s)."),
    ),
    (
        "the ID token is not meant for this registry (aud)",
        _("The ID token is not meant for this registry (aud)."),
    ),
    (
        "the ID token was issued to another client (azp)",
        _("The ID token was issued to another client (azp)."),
    ),
    (
        "the ID token is not the answer to this sign-in (nonce)",
        _("The ID token is not the answer to this sign-in (nonce)."),
    ),
    (
        "the provider's subject identifier is too long",
        _("The provider's subject identifier is too long."),
    ),
    (
        "%(issuer)s names no authorization or token endpoint",
        _("%(issuer)s names no authorization or token endpoint."),
    ),
    (
        "the discovery document of %(issuer)s names another issuer (%(found)s)",
        _("The discovery document of %(issuer)s names another issuer (%(found)s)."),
    ),
    (
        "the discovery document of %(issuer)s names no jwks_uri",
        _("The discovery document of %(issuer)s names no jwks_uri."),
    ),
    (
        "the token's signature does not verify with the keys of %(issuer)s",
        _("The token's signature does not verify with the keys of %(issuer)s."),
    ),
    (
        "the token expired at %(when)s (%(seconds)s s ago); ask for a fresh one",
        _("The token expired at %(when)s (%(seconds)s s ago); ask for a fresh one."),
    ),
    (
        "the token is not valid yet: not before %(when)s (nbf); check the clocks",
        _("The token is not valid yet: not before %(when)s (nbf); check the clocks."),
    ),
    (
        "the token was issued in the future (%(when)s, iat); check the clocks",
        _("The token was issued in the future (%(when)s, iat); check the clocks."),
    ),
    # the audit log's filters
    (
        "%(text)s is not a time: write a date (2026-03-01), a time (2026-03-01T12:00:00Z) or an"
        " age (30m, 24h, 7d, 2w)",
        _(
            "%(text)s is not a time: write a date (2026-03-01), a time (2026-03-01T12:00:00Z)"
            " or an age (30m, 24h, 7d, 2w)."
        ),
    ),
)

# Values that are words of the product, shown in the reader's language.
TERMS: dict[str, str] = {
    "read": _("read"),
    "write": _("write"),
    "admin": _("admin"),
    "keep_newest": _("Keep the newest tags"),
    "untagged_days": _("Delete untagged images older than (days)"),
    "tag_days": _("Delete tags older than (days)"),
    "issuer": _("Issuer"),
    "audience": _("Audience"),
    "unspecified": _("unspecified"),
    "loopback": _("loopback"),
    "private": _("private"),
    "link-local": _("link-local"),
    "shared (CGNAT)": _("shared (CGNAT)"),
    "multicast": _("multicast"),
    "broadcast": _("broadcast"),
    "reserved": _("reserved"),
    "cloud metadata": _("cloud metadata"),
    "pending": _("pending"),
    "done": _("done"),
    "failed": _("failed"),
    "an account without an email address": _("an account without an email address"),
}
NESTED = "reason"  # a placeholder whose value is itself a message to put in words


@dataclass(frozen=True, slots=True)
class Said:
    """A message for a page: its text, and its language when it is not the page's."""

    text: str
    lang: str | None = None

    def __str__(self) -> str:
        return self.text


class Refused(Invalid):
    """A value a page refuses itself, its message already in the reader's language."""

    status = 422


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(%\(\w+\)s)", template)
    regex = "".join(
        f"(?P<{part[2:-2]}>.+?)" if re.fullmatch(r"%\(\w+\)s", part) else re.escape(part)
        for part in parts
    )
    return re.compile(regex, re.DOTALL)


@cache
def _compiled() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((_pattern(service), shown) for service, shown in KNOWN)


def say(message: str, gettext: Callable[[str], str]) -> Said:
    """A service's message as a person reads it, through `gettext` (the page's catalog)."""
    for pattern, shown in _compiled():
        found = pattern.fullmatch(message)
        if found is not None:
            values = {
                key: say(v, gettext).text if key == NESTED else gettext(TERMS.get(v, v))
                for key, v in found.groupdict().items()
            }
            return Said(gettext(shown) % values)
    return Said(message, lang="en")


def say_error(error: ServiceError | Exception, gettext: Callable[[str], str]) -> Said:
    """`say` for an error: a service error's message, or the text of another one (an
    authorization error of a role or scope)."""
    if isinstance(error, Refused):
        return Said(error.message)
    return say(error.message if isinstance(error, ServiceError) else str(error), gettext)
