"""One text mode and one truncation knob for every section that records texts."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from proxy.config.schema import LoggingConfig
from proxy.config.state_settings import EventsConfig


@pytest.mark.parametrize("section", [LoggingConfig, EventsConfig])
def test_truncated_keeps_the_first_chars_and_marks_the_cut(section) -> None:
    config = section(text="truncated", truncate_chars=5)
    assert config.kept("hello") == "hello"
    assert config.kept("hello world") == "hello…"


@pytest.mark.parametrize("section", [LoggingConfig, EventsConfig])
def test_full_keeps_everything_and_the_default_cut_is_200(section) -> None:
    assert section(text="full", truncate_chars=5).kept("hello world") == "hello world"
    assert section(text="truncated").kept("x" * 300) == "x" * 200 + "…"


@pytest.mark.parametrize("section", [LoggingConfig, EventsConfig])
def test_a_bare_yaml_off_is_off_and_a_bad_mode_is_refused(section) -> None:
    assert section(**yaml.safe_load("text: off")).text == "off"
    with pytest.raises(ValidationError, match="text"):
        section(text="some")
    with pytest.raises(ValidationError, match="truncate_chars"):
        section(truncate_chars=0)
