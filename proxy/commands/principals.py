"""``safety-proxy principals show|unban|banned|hash``: a principal's abuse state, from the CLI.

  principals show PRINCIPAL --config FILE     strikes in the window, ban and throttle (JSON)
  principals unban PRINCIPAL --config FILE    lift the ban and throttle, forget the strikes
  principals banned --config FILE             principals banned now (JSON lines)
  principals hash --source api_key --config FILE   read a key on stdin, print its
                                                   principal hash; nothing is stored
  principals hash --source user --key-hash HEX --config FILE   the same for an end user
                                                   named under that key

PRINCIPAL is the keyed hash shown in events and by ``hash``. Exit codes as for ``events``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import cast

import orjson

from proxy.commands.events import run_with_store
from proxy.config.loader import ConfigError, load_file
from proxy.pipeline.identify import Identifier
from proxy.state.base import Store
from proxy.state.factory import StateSettings
from proxy.state.keys import check_principal


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("principals", help="inspect and unban principals")
    actions = parser.add_subparsers(dest="principals_action", required=True, metavar="ACTION")
    for name, handler, text in (("show", show_command, "a principal's strikes, ban, throttle"),
                                ("unban", unban_command, "lift a ban (and throttle, strikes)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("principal", type=_principal, help="the principal hash")
        action.add_argument("--config", required=True, type=Path, help="the proxy's config")
        action.set_defaults(func=handler)
    banned = actions.add_parser("banned", help="list the principals banned now")
    banned.add_argument("--config", required=True, type=Path, help="the proxy's config")
    banned.add_argument("--limit", type=int, default=1000)
    banned.set_defaults(func=banned_command)
    hashing = actions.add_parser("hash", help="print the principal hash of a value on stdin")
    hashing.add_argument("--source", choices=("api_key", "user"), default="api_key")
    hashing.add_argument("--key-hash", type=_principal, default=None,
                         help="with --source user: the principal hash of the key that named "
                              "the user (end users are scoped to their key)")
    hashing.add_argument("--config", required=True, type=Path, help="the proxy's config")
    hashing.set_defaults(func=hash_command)


def _principal(value: str) -> str:
    try:
        return check_principal(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a principal hash (hex)") from None


def show_command(args: argparse.Namespace) -> int:
    async def show(store: Store) -> None:
        window_ms = int(_window_s(args.config) * 1000)
        state = await store.principal(args.principal, window_ms, _now_ms())
        _print({"principal": state.principal, "strikes": state.strikes,
                "strike_count": state.strike_count, "banned_until_ms": state.banned_until_ms,
                "throttled_until_ms": state.throttled_until_ms})
    return run_with_store(args.config, show)


def unban_command(args: argparse.Namespace) -> int:
    async def unban(store: Store) -> None:
        _print({"principal": args.principal, "unbanned": await store.unban(args.principal)})
    return run_with_store(args.config, unban)


def banned_command(args: argparse.Namespace) -> int:
    async def banned(store: Store) -> None:
        for ban in await store.bans(_now_ms(), args.limit):
            _print({"principal": ban.principal, "until_ms": ban.until_ms})
    return run_with_store(args.config, banned)


def hash_command(args: argparse.Namespace) -> int:
    identifier = configured_identifier(args.config)
    if identifier is None:
        return 1
    value = sys.stdin.readline().strip()
    if not value:
        print("need the value to hash on stdin", file=sys.stderr)
        return 1
    print(identifier.user_hash(value, args.key_hash) if args.source == "user"
          else identifier.hash("api_key", value))
    return 0


def configured_identifier(config: Path) -> Identifier | None:
    """The Identifier of the config's identity secret; None, said on stderr, when the
    config does not load or names no secret (hashes are keyed with it)."""
    try:
        secret = load_file(config).config.identity.resolved_secret()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None
    if secret is None:
        print("the config names no identity.secret (nor a set identity.secret_env "
              "variable): hashes are keyed with it", file=sys.stderr)
        return None
    return Identifier(secret)


def _settings(config: Path) -> StateSettings:
    return cast(StateSettings, load_file(config).config)


def _window_s(config: Path) -> float:
    return _settings(config).abuse.window_s


def _now_ms() -> int:
    return int(time.time() * 1000)


def _print(value: object) -> None:
    print(orjson.dumps(value).decode(), flush=True)
