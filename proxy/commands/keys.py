"""``safety-proxy keys``: client keys for ``auth.mode: keys``.

  keys create --id NAME --config FILE [--tenant T] [--assert-tenant] [--name-users]
              [--expires 2027-06-30T00:00:00Z] [--store]
  keys list --config FILE          the keys kept in the store (JSON lines; no key, its hash)
  keys revoke ID --config FILE     revoke a key kept in the store

``create`` prints the key (shown this once; the proxy keeps only its hash) on stdout's
first line. Then, by default, its ``auth.keys`` entry as a one-line YAML flow mapping, to
append to the config's ``auth.keys`` list (the proxy reloads it; removing the entry revokes
the key); with ``--store``, the key goes into the config's (Redis) store instead, where the
admin API and ``revoke`` manage it, and every replica accepts it within seconds. Hashes are
keyed with the config's identity secret, so the config must name one. Exit codes: 0, 1
(config or store error), 2 (bad settings; a memory store for ``--store``, ``list``,
``revoke``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from proxy.commands.events import run_with_store
from proxy.commands.principals import configured_identifier
from proxy.config.auth import ClientKey, new_key
from proxy.config.loader import load_file
from proxy.observability.metrics import Metrics
from proxy.state.base import Store
from proxy.state.client_keys import DuplicateKeyId, StoredKeys, check_new_key
from proxy.state.health import StoreHealth


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="client keys (auth.mode: keys)")
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
    create.add_argument("--store", action="store_true",
                        help="keep the key in the config's store, not in the config file")
    create.set_defaults(func=create_command)
    listing = actions.add_parser("list", help="the keys kept in the store")
    listing.add_argument("--config", required=True, type=Path, help="the proxy's config")
    listing.set_defaults(func=list_command)
    revoke = actions.add_parser("revoke", help="revoke a key kept in the store")
    revoke.add_argument("key_id", help="the key's id")
    revoke.add_argument("--config", required=True, type=Path, help="the proxy's config")
    revoke.set_defaults(func=revoke_command)


def create_command(args: argparse.Namespace) -> int:
    identifier = configured_identifier(args.config)
    if identifier is None:
        return 1
    key = new_key()
    try:
        entry = ClientKey(id=args.id, hash=identifier.hash("api_key", key),
                          tenant=args.tenant, assert_tenant=args.assert_tenant,
                          name_users=args.name_users, expires=args.expires)
        if args.store:
            check_new_key(entry, load_file(args.config).config)
    except ValidationError as exc:
        print(f"invalid key settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
              file=sys.stderr)
        return 2
    except ValueError as exc:  # an undeclared tenant, an id the config file has
        print(str(exc), file=sys.stderr)
        return 2
    if args.store:
        return _store_key(args.config, entry, key)
    print(key)
    print("- " + orjson.dumps(_entry(entry)).decode(), flush=True)
    return 0


def _store_key(config: Path, entry: ClientKey, key: str) -> int:
    async def create(store: Store) -> int:
        try:
            await _keys(store).create(entry)
        except DuplicateKeyId as exc:
            print(str(exc), file=sys.stderr)
            return 2
        print(key, flush=True)  # only once it is stored
        return 0
    return run_with_store(config, create)


def list_command(args: argparse.Namespace) -> int:
    async def listing(store: Store) -> None:
        for entry in await _keys(store).all():
            print(orjson.dumps(_entry(entry)).decode(), flush=True)
    return run_with_store(args.config, listing)


def revoke_command(args: argparse.Namespace) -> int:
    async def revoke(store: Store) -> None:
        revoked = await _keys(store).revoke(args.key_id)
        print(orjson.dumps({"id": args.key_id, "revoked": revoked}).decode(), flush=True)
    return run_with_store(args.config, revoke)


def _keys(store: Store) -> StoredKeys:
    return StoredKeys(store, StoreHealth(store, Metrics()))


def _entry(key: ClientKey) -> dict[str, Any]:
    """The key's non-default settings, as the config writes them."""
    return key.model_dump(mode="json", exclude_defaults=True) | {"id": key.id, "hash": key.hash}


