"""Built-in detectors for secrets: API keys and tokens of common services, private keys,
and (``credentials``) secrets recognised by their context.

Every token format here has a fixed, documented prefix and length, so a match is very
unlikely to be prose. JWTs are checked further: their header must decode to JSON naming
an ``alg``. A private-key block without its END line (a truncated paste, a streamed
window) is matched to the end of the text, so redaction never leaves key material behind.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from classifiers.rules.credentials import CREDENTIAL_DETECTORS
from classifiers.rules.spans import Detector

_TOKEN_FORMATS = (
    r"sk-(?:proj-|svcacct-|admin-|ant-api\d\d-)?[A-Za-z0-9_-]{32,}",  # OpenAI, Anthropic
    r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",  # AWS access key id
    r"gh[pousr]_[A-Za-z0-9]{36,255}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{60,255}",  # GitHub fine-grained tokens
    r"xox[abposr]-[A-Za-z0-9-]{10,250}",  # Slack tokens
    r"AIza[0-9A-Za-z_-]{35}",  # Google API key
    r"(?:sk|rk)_live_[A-Za-z0-9]{24,99}",  # Stripe live secret / restricted keys
    r"hf_[A-Za-z0-9]{34,40}",  # Hugging Face tokens
    r"glpat-[A-Za-z0-9_-]{20,50}",  # GitLab personal access tokens
    r"npm_[A-Za-z0-9]{36}",  # npm tokens
    r"whsec_[A-Za-z0-9+/]{32,}",  # Stripe webhook signing secrets
    r"xapp-\d-[A-Za-z0-9-]{10,250}",  # Slack app-level tokens
    r"GOCSPX-[A-Za-z0-9_-]{28}",  # Google OAuth client secrets
    r"ya29\.[0-9A-Za-z_-]{20,}",  # Google OAuth access tokens
    r"SG\.[\w-]{22}\.[\w-]{43}",  # SendGrid API keys
)
_TOKENS = re.compile(r"(?<![\w-])(?:" + "|".join(_TOKEN_FORMATS) + r")(?![\w-])")
_SLACK_WEBHOOK = re.compile(
    r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}"
)
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"[\s\S]*?(?:-----END \1-----|\Z)"
)


def _jwt_header_valid(match: re.Match[str]) -> bool:
    header = match.group().split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


SECRET_DETECTORS = (
    Detector("secret", _TOKENS),
    Detector("secret", _SLACK_WEBHOOK, gate=lambda text: "hooks.slack.com" in text),
    Detector("secret", _JWT, _jwt_header_valid, gate=lambda text: "eyJ" in text),
    Detector("secret", _PRIVATE_KEY, gate=lambda text: "PRIVATE KEY" in text),
    *CREDENTIAL_DETECTORS,
)
