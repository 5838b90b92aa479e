"""``safety-proxy keys create``: a new client key for ``auth.mode: keys``.

  keys create --id NAME --config FILE [--tenant T] [--assert-tenant] [--name-users]
              [--expires 2027-06-30T00:00:00Z]

Prints two lines on stdout: the key (shown this once; the proxy keeps only its hash), then
its ``auth.keys`` entry as a one-line YAML flow mapping, to append to the config's
``auth.keys`` list (the proxy reloads it; removing the entry revokes the key). The hash is
keyed with the config's identity secret, so the config must name one.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from proxy.commands.principals import configured_identifier
from proxy.config.auth import ClientKey

KEY_PREFIX = "sp-"  # recognisable in secret scanners; 256 random bits follow


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="create client keys (auth.mode: keys)")
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key; print it and its auth.keys entry")
    create.add_argument("--id", required=True, help="the key's public name")
    create.add_argument("--config", required=True, type=Path, help="the proxy's config")
    create.add_argument("--tenant", default=None, help="a tenant declared in tenants.known")
    create.add_argument("--assert-tenant", action="store_true",
                        help="a platform key: may name another tenant in tenants.header")
    create.add_argument("--name-users", action="store_true",
                        help="an application key: names its end users (user, "
                             "safety_identifier, metadata.user_id)")
    create.add_argument("--expires", type=datetime.fromisoformat, default=None,
                        help="ISO 8601 time with a zone, e.g. 2027-06-30T00:00:00Z")
    create.set_defaults(func=create_command)


def create_command(args: argparse.Namespace) -> int:
    identifier = configured_identifier(args.config)
    if identifier is None:
        return 1
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        entry = ClientKey(id=args.id, hash=identifier.hash("api_key", key),
                          tenant=args.tenant, assert_tenant=args.assert_tenant,
                          name_users=args.name_users, expires=args.expires)
    except ValidationError as exc:
        print(f"invalid key settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
              file=sys.stderr)
        return 2
    print(key)
    print("- " + orjson.dumps(_entry(entry)).decode(), flush=True)
    return 0


def _entry(key: ClientKey) -> dict[str, Any]:
    """The key's non-default settings, as the config writes them."""
    return key.model_dump(mode="json", exclude_defaults=True) | {"id": key.id, "hash": key.hash}
