"""Options of every built-in classifier type, shared by the contract's tests
(tests/classifiers/test_options.py) and the loader's (tests/proxy/config/test_check_options.py)."""

from __future__ import annotations

from typing import Any

RUBRIC = {"instructions": "Pick one.", "options": {"A": {"label": "ok", "description": "fine"},
                                                  "B": {"label": "bad", "description": "not"}}}
JUDGE = {"base_url": "http://127.0.0.1:9/v1", "model": "judge"}
# The least each built-in type needs; what its README section shows, trimmed.
MINIMAL: dict[str, dict[str, Any]] = {
    "profanity": {},
    "refusal": {},
    "detoxify": {},
    "transformers": {"model": "/srv/models/some-model"},
    "rules": {},
    "prompt_leak": {},
    "language": {},
    "semantic": {"categories": {"jailbreak": "builtin:jailbreak"}},
    "heads": {"heads": ["harmful_request"]},
    "rubric": {**JUDGE, "rubric": RUBRIC},
    "llama_guard": JUDGE,
}
# One value per type that its model must refuse, and the key that names it.
WRONG: list[tuple[str, dict[str, Any], str]] = [
    ("profanity", {"max_batch": 0}, "max_batch"),
    ("profanity", {"max_queue": "many"}, "max_queue"),
    ("detoxify", {"model": "huge"}, "model"),
    ("detoxify", {"max_batch": 0}, "max_batch"),
    ("transformers", {"activation": "relu"}, "activation"),
    ("rules", {"detectors": ["passport"]}, "detectors"),
    ("rules", {"categories": {"c": {"patterns": ["("]}}}, "categories.c"),
    ("prompt_leak", {"run_words": 0}, "run_words"),
    ("language", {"languages": []}, "languages"),
    ("language", {"min_letters": 0}, "min_letters"),
    ("prompt_leak", {"canaries": ["short"]}, "canaries.0"),
    ("semantic", {"max_wait_ms": "soon"}, "max_wait_ms"),
    ("semantic", {"contrast": {"other": ["x"]}}, "contrast"),
    ("heads", {"sentences": "yes"}, "sentences"),
    ("heads", {"heads": ["hatee"]}, "heads"),
    ("rubric", {"sample_rate": 2}, "sample_rate"),
    ("rubric", {"rubric": {**RUBRIC, "options": {"A": RUBRIC["options"]["A"]}}},
     "rubric.options"),
    ("llama_guard", {"timeout_s": 0}, "timeout_s"),
    ("llama_guard", {"base_url": "judge.example"}, "base_url"),
]
SECRET = "sk-live-THIS-MUST-NOT-LEAK-0123456789"
