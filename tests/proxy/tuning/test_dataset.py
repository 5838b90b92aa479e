"""Loading labeled data: CSV and JSONL, label mapping, review-stream exports, bad input."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from proxy.tuning.dataset import DataError, DataSpec, Example, load_examples


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_csv_with_named_columns_and_positive_values(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,tweet,class\n1,you idiot,1\n2,\"hello, friend\",2\n3,  ,0\n4,ugh,0\n")
    spec = DataSpec(text_column="tweet", label_column="class", positive=frozenset({"0", "1"}))
    assert load_examples(data, spec) == [Example(("you idiot",), True),
                                         Example(("hello, friend",), False),
                                         Example(("ugh",), True)]  # blank text is skipped


def test_jsonl_booleans_and_yes_no_words_need_no_mapping(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [
        {"text": "a", "label": True}, {"text": "b", "label": 0}, {"text": "c", "label": "unsafe"},
        {"text": "d", "label": "OK"}])
    assert [e.positive for e in load_examples(data, DataSpec())] == [True, False, True, False]


def test_unknown_labels_are_listed_so_the_operator_can_map_them(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "2_full_refusal"},
                                              {"text": "b", "label": "1_full_compliance"}])
    with pytest.raises(DataError, match=r"1_full_compliance, 2_full_refusal.*--positive"):
        load_examples(data, DataSpec())


def test_review_stream_export_takes_the_tuned_direction(tmp_path: Path) -> None:
    event = {"id": "1-0", "request_id": "r1", "decision": "flag", "label": "abuse",
             "text": {"input": ["hi", "you fool"], "output": ["answer"]}}
    data = write_jsonl(tmp_path / "events.jsonl", [event, {**event, "text": {"input": ["x"]}}])
    spec = DataSpec(positive=frozenset({"abuse"}), direction="output")
    assert load_examples(data, spec) == [Example(("answer",), True)]  # no answer: skipped
    spec = DataSpec(positive=frozenset({"abuse"}), direction="input")
    assert load_examples(data, spec)[0] == Example(("hi", "you fool"), True)


def test_event_without_texts_keeps_its_recorded_scores(tmp_path: Path) -> None:
    event = {"request_id": "r1", "decision": "block", "label": "abuse",
             "scores": {"input.toxicity": {"profane": 0.93}, "output.refusal": {"refusal": 0.1}}}
    data = write_jsonl(tmp_path / "events.jsonl", [event, {**event, "scores": {}}])
    (example,) = load_examples(data, DataSpec(positive=frozenset({"abuse"})))  # 2nd: nothing
    assert example == Example((), True, None, {"toxicity": {"profane": 0.93}})


def test_recorded_chat_requests_are_examples_too(tmp_path: Path) -> None:
    """The JSONL an operator replays can be labeled and tuned on as it is."""
    chat = {"messages": [{"role": "system", "content": "be nice"},
                         {"role": "user", "content": "you fool"}],
            "answer": "no, you", "label": "abuse"}
    data = write_jsonl(tmp_path / "traffic.jsonl", [chat, {**chat, "answer": None}])
    spec = DataSpec(positive=frozenset({"abuse"}))
    assert load_examples(data, spec)[0] == Example(("be nice", "you fool"), True, "you fool")
    output = load_examples(data, DataSpec(positive=frozenset({"abuse"}), direction="output"))
    assert output == [Example(("no, you",), True, "you fool")]  # no answer: no output example


def test_prompt_column_and_seeded_sample(tmp_path: Path) -> None:
    rows = [{"completion": f"c{i}", "prompt": f"p{i}", "y": "1"} for i in range(50)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    spec = DataSpec(text_column="completion", label_column="y", prompt_column="prompt",
                    limit=10, seed=7)
    first, again = load_examples(data, spec), load_examples(data, spec)
    assert first == again and len(first) == 10
    assert all(e.prompt == "p" + e.texts[0][1:] for e in first)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json}\n", r"d.jsonl:1: invalid JSON"),
    ('["a list"]\n', r"d.jsonl:1: each line must be a JSON object"),
    ('{"body": "x", "label": 1}\n', r"d.jsonl:1: no column 'text' \(columns: body, label\)"),
    ('{"text": 3, "label": 1}\n', r"d.jsonl:1: the text must be a string"),
    ("", r"no rows with text"),
])
def test_bad_data_names_file_line_and_column(tmp_path: Path, content: str,
                                             message: str) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(content)
    with pytest.raises(DataError, match=message):
        load_examples(data, DataSpec())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_examples(tmp_path / "absent.csv", DataSpec())
