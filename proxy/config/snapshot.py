"""A snapshot: one validated config plus the classifiers it started, used as one unit.

Requests take a snapshot at their start and use it to the end, even if a reload swaps in
another meanwhile. A snapshot's classifiers are closed once it has been replaced and its
last request has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from classifiers import heap, registry
from classifiers.base import Classifier, ClassifierConfigError, Direction
from classifiers.tasks import spawn
from proxy.config.loader import ConfigError, LoadedConfig
from proxy.config.restart import RESTART_ONLY
from proxy.config.schema import OTHER_TENANT, CheckConfig, DirectionPolicy, ProxyConfig, Thresholds
from proxy.observability.metrics import Metrics

log = structlog.get_logger("safety_proxy.config")


@dataclass(frozen=True, slots=True)
class Check:
    config: CheckConfig
    classifier: Classifier

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def normalizes(self) -> bool:
        """Whether canonical views of texts are scored too (config, else the type's say)."""
        normalize = self.config.normalize
        return self.classifier.normalize_by_default if normalize is None else normalize


@dataclass(slots=True)
class Snapshot:
    loaded: LoadedConfig
    checks: tuple[Check, ...]
    _users: int = 0
    _retired: bool = False
    _closing_started: bool = False
    _closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def config(self) -> ProxyConfig:
        return self.loaded.config

    _tenant_policies: dict[tuple[str | None, str], DirectionPolicy] = field(default_factory=dict)
    # direction -> its checks, in config order (several steps of every request ask)
    _by_direction: dict[str, tuple[Check, ...]] = field(default_factory=dict)

    def checks_for(self, direction: Direction) -> tuple[Check, ...]:
        checks = self._by_direction.get(direction)
        if checks is None:
            checks = self._by_direction[direction] = tuple(
                check for check in self.checks if direction in check.config.directions)
        return checks

    def tenant_of(self, headers: Mapping[str, str]) -> str | None:
        """The request's tenant: a declared name, ``other``, or None when tenants are off."""
        tenants = self.config.tenants
        if tenants is None:
            return None
        name = headers.get(tenants.header, "")
        return name if name in tenants.known else OTHER_TENANT

    def policy_for(self, direction: Direction, tenant: str | None = None) -> DirectionPolicy:
        """The live thresholds for a direction, with the tenant's overrides merged in."""
        key = (tenant, direction)
        if key not in self._tenant_policies:
            self._tenant_policies[key] = effective_policy(self.config, direction, tenant)
        return self._tenant_policies[key]

    async def close(self) -> None:
        for check in self.checks:
            try:
                await check.classifier.close()
            except Exception as exc:  # closing must not stop the others from closing
                log.warning("classifier_close_failed", check=check.name, error=repr(exc))
        self._closed.set()


def declare_series(metrics: Metrics, snapshot: Snapshot) -> None:
    """Pre-initialises the per-check and per-tenant series a snapshot can move, and sets the
    config series (the hash of what runs, the settings waiting for a restart)."""
    metrics.declare_checks((c.name, c.classifier.labels, c.config.directions)
                           for c in snapshot.checks)
    for check in snapshot.checks:
        check.classifier.batch_listener = metrics.batch_size.labels(check.name).observe
    tenants = snapshot.config.tenants
    if tenants is not None:
        metrics.declare_tenants([*tenants.known, OTHER_TENANT])
    metrics.set_config_hash(snapshot.loaded.running_sha256)
    metrics.set_restart_required(RESTART_ONLY, snapshot.loaded.restart_pending)


def effective_policy(config: ProxyConfig, direction: Direction,
                     tenant: str | None) -> DirectionPolicy:
    """The direction's thresholds with a declared tenant's overrides merged label by label."""
    base = config.policy.for_direction(direction)
    known = config.tenants.known if config.tenants else {}
    if tenant not in known:
        return base
    merged = {check: dict(labels) for check, labels in base.items()}
    for check, labels in known[tenant].policy.for_direction(direction).items():
        merged.setdefault(check, {}).update(labels)
    return merged


async def build_snapshot(loaded: LoadedConfig) -> Snapshot:
    """Builds and starts every classifier; on any error closes what started and raises."""
    started: list[Check] = []
    try:
        for check_config in loaded.config.checks:
            options = loaded.check_options.get(check_config.name, check_config.options)
            classifier = registry.build(check_config.type, check_config.name, options)
            await classifier.start()
            started.append(Check(check_config, classifier))
        _check_policy_labels(loaded.config, started)
    except (ClassifierConfigError, ConfigError) as exc:
        await Snapshot(loaded, tuple(started)).close()
        raise ConfigError(f"{loaded.source}: {exc}") from None
    except BaseException:
        await Snapshot(loaded, tuple(started)).close()
        raise
    return Snapshot(loaded, tuple(started))


def _check_policy_labels(config: ProxyConfig, checks: list[Check]) -> None:
    by_name = {check.name: check for check in checks}
    for key, policy in config.threshold_policies():
        directions: tuple[Direction, ...] = ("input", "output")
        for direction in directions:
            for check_name, labels in policy.for_direction(direction).items():
                _check_labels(f"{key}.{direction}.{check_name}", by_name[check_name], direction,
                              labels)
    for qualified in (*config.policy.toxic_labels, config.policy.refusal_label):
        if qualified is None:
            continue
        check_name, _, label = qualified.partition(".")
        if check_name not in by_name or label not in by_name[check_name].classifier.labels:
            raise ConfigError(f"policy: {qualified!r} is not a known check.label")


def _check_labels(where: str, check: Check, direction: Direction,
                  labels: dict[str, Thresholds]) -> None:
    if direction not in check.config.directions:
        raise ConfigError(f"{where}: check {check.name!r} does not run on {direction} "
                          f"(its directions: {list(check.config.directions)})")
    scored = check.classifier.labels_for(direction)
    for label, thresholds in labels.items():
        if label not in scored:
            known = (f"{check.name!r} scores {list(scored)} on {direction}"
                     if label in check.classifier.labels else
                     f"unknown label; {check.name!r} has {list(check.classifier.labels)}")
            raise ConfigError(f"{where}.{label}: {known}")
        if thresholds.redact is not None and not callable(getattr(check.classifier, "redact",
                                                                  None)):
            raise ConfigError(f"{where}.{label}: redact needs a check that can redact "
                              f"(type: rules); {check.config.type!r} cannot")


class SnapshotUse:
    """One use of a holder's current snapshot (``SnapshotHolder.use``): a plain class, not
    a generator, because every request enters one."""

    __slots__ = ("_holder", "_snapshot")

    def __init__(self, holder: SnapshotHolder) -> None:
        self._holder = holder
        self._snapshot = holder.current

    def __enter__(self) -> Snapshot:
        self._snapshot._users += 1
        return self._snapshot

    def __exit__(self, *exc: object) -> None:
        snapshot = self._snapshot
        snapshot._users -= 1
        if snapshot._retired and snapshot._users == 0:
            self._holder._close_later(snapshot)


class SnapshotHolder:
    """Holds the current snapshot; swaps atomically; closes retired ones when idle."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._current = snapshot
        self._closing: set[asyncio.Task[None]] = set()  # what ``close`` waits for

    @property
    def current(self) -> Snapshot:
        return self._current

    def use(self) -> SnapshotUse:
        """``with holder.use() as snapshot``: the current snapshot, counted as in use
        until the block ends; a retired one is closed when its last user leaves."""
        return SnapshotUse(self)

    def swap(self, snapshot: Snapshot) -> Snapshot:
        old, self._current = self._current, snapshot
        old._retired = True
        if old._users == 0:
            self._close_later(old)
        return old

    def _close_later(self, snapshot: Snapshot) -> None:
        if snapshot._closed.is_set() or snapshot._closing_started:
            return
        snapshot._closing_started = True
        task = spawn(snapshot.close(), name=f"snapshot-close-{id(snapshot)}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        task.add_done_callback(_release_soon)

    async def close(self) -> None:
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self._current.close()


def _release_soon(_closed: asyncio.Task[None]) -> None:
    """A retired snapshot has closed: once the loop has let go of its task, its objects
    (frozen at the last settle) are collected and the running ones frozen again."""
    asyncio.get_running_loop().call_soon(heap.release)
