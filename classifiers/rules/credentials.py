"""Secrets found by their context rather than a fixed prefix: URL credentials, password
assignments, AWS secret access keys, Azure storage keys and SAS signatures, Bearer tokens.

The span is the secret itself (a URL's whole user-info), so redaction keeps the key name
and the host readable. Placeholders are not secrets: ``<your password>``, ``${DB_PASS}``,
``{password}``, ``%s``, ``****``, ``your_password``, ``password``, ``None``, ``str``...
"""

from __future__ import annotations

import re
from collections.abc import Callable

from classifiers.rules.gates import any_of
from classifiers.rules.spans import Detector, Resolver

_PLACEHOLDER_WORDS = frozenset((
    "password", "passwd", "pass", "pwd", "passphrase", "secret", "secrets", "token", "key",
    "apikey", "api_key", "value", "none", "null", "nil", "true", "false", "undefined", "empty",
    "string", "str", "bytes", "int", "optional", "required", "example", "sample", "redacted",
    "hidden", "masked", "changeit", "placeholder", "xxx", "test", "dummy", "foo", "bar",
))
_PLACEHOLDER_SHAPE = re.compile(r"[<${%\[(]|[*xX.#?_\-]+\Z|(?i:your|my_|enter|insert)")


def is_placeholder(value: str) -> bool:
    return (len(value) < 3 or value.lower() in _PLACEHOLDER_WORDS
            or _PLACEHOLDER_SHAPE.match(value) is not None)


def _mixed_case(value: str) -> bool:
    """Looks random: upper- and lower-case letters and a digit or symbol (AWS keys)."""
    return (any(c.isupper() for c in value) and any(c.islower() for c in value)
            and not value.isalpha())


def _letters_and_digits(value: str) -> bool:
    return any(c.isalpha() for c in value) and any(c.isdigit() for c in value)


def _group_span(*names: str, looks_random: Callable[[str], bool] | None = None) -> Resolver:
    """The first named group that took part, unless its value is a placeholder (or fails
    ``looks_random``)."""
    def resolve(match: re.Match[str]) -> tuple[int, int] | None:
        for name in names:
            value = match.group(name)
            if value is not None:
                if is_placeholder(value) or (looks_random and not looks_random(value)):
                    return None
                return match.span(name)
        return None
    return resolve


# scheme://user:password@host: the span is the whole user-info. A password may hold "@"
# (unencoded); the last "@" before the host ends it.
_URL_CREDENTIALS = re.compile(
    r"(?<![\w+.-])[A-Za-z][A-Za-z0-9+.-]{1,19}+://"
    r"(?P<user>[^\s:/?#@'\"<>]{0,128}+):(?P<pw>[^\s/?#'\"<>]{1,256})@(?=[\w\[])"
)


def _userinfo(match: re.Match[str]) -> tuple[int, int] | None:
    return None if is_placeholder(match.group("pw")) else (match.start("user"), match.end("pw"))


# password=..., "password": "...", DB_PASSWORD: '...', PGPASSWORD=...; not
# password_hash=..., not "the password is", not code (getpass(), os.environ[...]).
_KEY = (r"(?<![\w.-])(?i:[\w.-]{0,40}?(?:password|passwd|passphrase)"
        r"|(?:[\w.-]{0,40}?[_.-])?(?:pass|pwd))(?![\w-])[\"']?")
_PASSWORD = re.compile(
    _KEY + r"[ \t]*(?P<op>:=|=>|=|:)[ \t]*(?:"
    r"\"(?P<dq>[^\"\n]{1,200}+)\"|'(?P<sq>[^'\n]{1,200}+)'"
    r"|(?P<bare>[^\s\"'`,;(){}\[\]<>]{1,200}+)(?![(\[{]))"
)
_IDENTIFIER = re.compile(r"[A-Za-z_]+\Z")


def _password(match: re.Match[str]) -> tuple[int, int] | None:
    bare = match.group("bare")
    if bare is None:
        return _group_span("dq", "sq")(match)
    text, op = match.string, match.group("op")
    if op == ":":  # YAML / "Password: x" lines: the key opens the line, the value ends it
        before = text[max(0, match.start() - 80) : match.start()].rsplit("\n", 1)[-1]
        after = text[match.end() : match.end() + 80].split("\n", 1)[0]
        if before.strip(" \t-#") or after.strip():
            return None
    elif " " in text[match.start("op") - 1 : match.end("op") + 1] and _IDENTIFIER.match(bare):
        return None  # code: password = user_input
    return None if is_placeholder(bare) else match.span("bare")


_AWS_SECRET = re.compile(
    r"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)[\"']?[ \t]*"
    r"(?::=|=>|=|:)[ \t]*[\"']?(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    r"|(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])[\s\S]{1,100}?"
    r"(?<![A-Za-z0-9/+=])(?P<n>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
_AZURE = re.compile(
    r"(?i:(?<!\w)(?:AccountKey|SharedAccessKey)=(?P<key>[A-Za-z0-9+/]{20,}+={0,2})"
    r"|(?<!\w)SharedAccessSignature=(?P<sas>[^\s;\"']{20,}+)"
    r"|[?&;]sig=(?P<sig>[A-Za-z0-9%+/=]{20,}+))"
)
_BEARER = re.compile(r"(?i:(?<!\w)Bearer)[ \t]+(?P<t>[A-Za-z0-9._~+/-]{20,}+=*)(?![\w.~+/-])")

CREDENTIAL_DETECTORS = (
    Detector("secret", _URL_CREDENTIALS, resolve=_userinfo, gate=lambda text: "://" in text),
    Detector("secret", _PASSWORD, resolve=_password, gate=any_of("pass", "pwd")),
    Detector("secret", _AWS_SECRET, resolve=_group_span("v", "n", looks_random=_mixed_case),
             gate=any_of("secret", "akia", "asia")),
    Detector("secret", _AZURE, resolve=_group_span("key", "sas", "sig"),
             gate=any_of("key=", "signature=", "sig=")),
    Detector("secret", _BEARER, resolve=_group_span("t", looks_random=_letters_and_digits),
             gate=any_of("bearer")),
)
