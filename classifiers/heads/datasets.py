"""Readers for the labeled sets under ``../shared/data`` (read in place, never copied).

Two kinds, kept apart on purpose: ``training_*`` readers return the sets whose licenses
allow shipping derived weights and that the data README marks for TRAINING; ``measure_*``
readers return sets used only to measure (never trained on, never used to pick a
threshold). ``label`` is 1 for the head's positive class, 0 for benign, -1 unlabeled.
Validation splits are made on embedding clusters (see ``train``), since AdvBench is
templated and near-duplicates must stay on one side of a split.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import yaml

from classifiers.base import cut_windows
from classifiers.heads import PASSAGE_STEP, PASSAGE_WORDS, passages, sentences

csv.field_size_limit(sys.maxsize)  # awesome-chatgpt-prompts has a few very long prompts


class Row(NamedTuple):
    text: str
    label: int
    group: str  # "<source>:<topic>" where the set has one (provenance, not the split)
    source: str


def _csv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def harmful_requests(data: Path) -> list[Row]:
    """AdvBench goals, HarmBench standard + contextual behaviors (context first; copyright
    rows left out: lyrics requests are not unsafe requests), GPTFuzz questions. All MIT."""
    rows = [Row(r["goal"], 1, "advbench", "advbench")
            for r in _csv(data / "advbench/harmful_behaviors.csv")]
    for r in _csv(data / "harmbench_behaviors/harmbench_behaviors_text_all.csv"):
        if r["FunctionalCategory"] == "copyright":
            continue
        text = (f"{r['ContextString']}\n\n{r['Behavior']}"
                if r["FunctionalCategory"] == "contextual" else r["Behavior"])
        rows.append(Row(text, 1, f"harmbench:{r['SemanticCategory']}", "harmbench"))
    rows += [Row(r["text"], 1, "gptfuzz", "gptfuzz")
             for r in _csv(data / "gptfuzz/question_list.csv")]
    return rows


def benign_requests(data: Path) -> list[Row]:
    """self-instruct instructions and their example inputs (Apache-2.0), the training half
    of awesome-chatgpt-prompts (CC0-1.0: benign role-play; the other half measures every
    head), ToxiGen neutral statements about identity groups (MIT: neutral identity mentions
    must not look like a harmful request)."""
    rows: list[Row] = []
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for task in _jsonl(data / "self_instruct" / name):
            group = f"self_instruct:{task['id']}"
            rows.append(Row(str(task["instruction"]), 0, group, "self_instruct"))
            for instance in task.get("instances") or []:  # type: ignore[attr-defined]
                if len(text := str(instance.get("input", "")).strip()) >= 20:
                    rows.append(Row(text, 0, group, "self_instruct"))
    rows += awesome_prompts(data, "train")
    rows += [Row(r["text"], 0, f"toxigen:{r['target_group']}", "toxigen_neutral")
             for r in _csv(data / "toxigen_statements/toxigen_statements.csv")
             if r["label"] == "neutral"]
    return rows


def awesome_prompts(data: Path, half: str | None = None) -> list[Row]:
    """awesome-chatgpt-prompts (CC0-1.0: benign role-play and task prompts), label 0; all
    of them, or one ``half`` (``awesome_half``). A prompt filed under two acts, one in each
    half, belongs to the measure half only."""
    source = "awesome_chatgpt_prompts" + (f"_{half}" if half else "")
    rows = [Row(r["prompt"], 0, f"awesome:{r['act']}", source)
            for r in _csv(data / "awesome_chatgpt_prompts/prompts_dedup.csv") if r["prompt"]]
    if half is None:
        return rows
    halves = [awesome_half(r.group.removeprefix("awesome:")) for r in rows]
    measured = {r.text.strip() for r, h in zip(rows, halves, strict=True) if h == "measure"}
    return [r for r, h in zip(rows, halves, strict=True)
            if h == half and (half == "measure" or r.text.strip() not in measured)]


def awesome_half(act: str) -> str:
    """Which half of awesome-chatgpt-prompts a prompt (by its ``act``) is in: ``train``
    (crc32 even: the heads train on it, the semantic guard chose its thresholds on it) or
    ``measure`` (odd: long benign role-play that every head's measurements keep unseen)."""
    return "train" if zlib.crc32(act.encode()) % 2 == 0 else "measure"


AUTHORED_REQUESTS = Path(__file__).with_name("authored") / "request_contrast.yaml"


def authored_requests(path: Path = AUTHORED_REQUESTS) -> list[Row]:
    """The developers' own requests (see the file's header): harmless requests that use
    words of harm (homonyms, idioms, safe targets, fiction, history, prevention...) as 0,
    and requests for real harm in the same everyday style as 1; group: the section."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Row(text, label, f"authored:{side}:{section}", "authored_requests")
            for side, label in (("benign", 0), ("harmful", 1))
            for section, texts in spec[side].items() for text in texts]


def training_harmful_request(data: Path) -> list[Row]:
    """The harmful_request head's training rows, deduplicated and sorted (deterministic)."""
    return with_parts(harmful_requests(data) + benign_requests(data) + authored_requests(),
                      "sentences", WRITTEN_CONTRASTS)


# ----- jailbreak and prompt injection (input) -----

AUTHORED_JAILBREAKS = Path(__file__).with_name("authored") / "jailbreak_contrast.yaml"
# The proxy's default window and context (streaming.window_chars, context_chars): a long
# input is scored whole and window by window, so benign windows are negatives too.
WINDOW, CONTEXT = 240, 64
WINDOWS_PER_TEXT = 6  # a negative's first windows: a few very long prompts would swamp the rest
PASSAGES_PER_TEXT = 22  # and first passages: 200 words, what training embeds of a whole text
# and, for a head reading sentences, this many of the sentences, chunks and windows the
# proxy reads of it (picked by digest: spread over the text, fixed)
SENTENCES_PER_TEXT = 16


def authored_jailbreaks(data: Path, path: Path = AUTHORED_JAILBREAKS) -> list[Row]:
    """The developers' own prompts (see the file's header): jailbreak and injection
    framings (1) and benign look-alikes (0). A ``{request}`` slot is filled from the
    training sets: in a jailbreak once with an AdvBench goal and once with a self-instruct
    instruction (a jailbreak is its framing, whatever it asks for), in a look-alike with a
    self-instruct instruction; the pick is fixed by the text's hash."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    harmful = sorted({r.text for r in harmful_requests(data) if r.source == "advbench"})
    benign = sorted({r.text for r in benign_requests(data) if r.source == "self_instruct"})
    rows = []
    for side, label in (("jailbreak", 1), ("benign", 0)):
        for section, texts in spec[side].items():
            for text in texts:
                pools = ([harmful, benign] if label else [benign]) if "{request}" in text else []
                fills = [text.format(request=_pick(pool, text)) for pool in pools] or [text]
                rows += [Row(fill, label, f"authored:{side}:{section}", "authored_jailbreaks")
                         for fill in fills]
    return rows


def _pick(pool: list[str], key: str) -> str:
    return pool[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(pool)]


def builtin_jailbreak_examples() -> list[Row]:
    """The semantic guard's shipped jailbreak examples (``builtin:jailbreak``, written for
    this project), label 1. Its held-out paraphrases stay out, and so does
    ``builtin:benign``: one of its lines is within cosine 0.81 of an awesome-chatgpt-prompts
    prompt of the measure half (the Linux-terminal one), which would flatter that figure."""
    from classifiers.semantic.builtin import jailbreak, parse_families

    return [Row(text, 1, f"builtin:jailbreak:{family}", "builtin_jailbreak")
            for family, texts in parse_families(jailbreak.TEXT).items() for text in texts]


def training_jailbreak(data: Path) -> list[Row]:
    """The jailbreak head's rows: the authored and built-in framings (1) against their
    look-alikes, requests without a framing, harmful or not (AdvBench, HarmBench, GPTFuzz
    questions, the authored requests: asking is not a jailbreak), self-instruct and the
    training half of awesome-chatgpt-prompts (0). Every long negative is also read in the
    parts the proxy reads, windows and passages (its first WINDOWS_PER_TEXT and
    PASSAGES_PER_TEXT); a jailbreak only whole (one of its parts may be harmless story)."""
    negatives = (harmful_requests(data) + [r for r in benign_requests(data)
                                            if r.source == "self_instruct"]
                 + awesome_prompts(data, "train") + authored_requests())
    negatives = [r._replace(label=0) for r in negatives]
    framed = authored_jailbreaks(data) + builtin_jailbreak_examples()
    fillers = [r.text for r in negatives
               if r.source.startswith("awesome") and len(r.text.split()) >= 2 * PASSAGE_WORDS]
    return with_parts(negatives + framed + framings_behind_padding(framed, fillers),
                      "passages")


def framings_behind_padding(framed: list[Row], fillers: list[str]) -> list[Row]:
    """The passages of padded framings and look-alikes, as the head reads them behind
    padding, each with its text's label: each text short enough to be all framing (at most
    PASSAGE_WORDS + PASSAGE_STEP words) is set after PASSAGE_WORDS / 2 to PASSAGE_WORDS - 1
    words of a harmless training text (at least 2 * PASSAGE_WORDS words long; the pick and
    the cut fixed by the text's hash) and before more of it; its passages that miss or
    add at most PASSAGE_STEP words are kept (passages() bounds what padding can do).
    Trained on whole framings alone, the head learns that a few harmless words beside a
    framing mean harmless, and padding would open a gap between passages."""
    step = PASSAGE_WORDS // 2
    rows = []
    for row in framed:
        words = row.text.split()
        if len(words) > PASSAGE_WORDS + PASSAGE_STEP:
            continue
        key = int(_digest(row.text), 16)
        filler = fillers[key % len(fillers)].split()
        lead = step + key % step
        padded = " ".join(filler[:lead] + words + filler[lead:lead + PASSAGE_WORDS])
        for k, passage in enumerate(passages(padded)):
            start = k * PASSAGE_STEP  # passages() starts one every PASSAGE_STEP words
            inside = min(start + PASSAGE_WORDS, lead + len(words)) - max(start, lead)
            if inside >= min(len(words), PASSAGE_WORDS) - PASSAGE_STEP:
                rows.append(row._replace(text=passage, group="padded:" + row.group))
    return rows


_BAG = "window-of:"


def bag_of(row: Row) -> str:
    """The text a row was read from: a part's whole text, else the row's own."""
    return row.group if is_part(row) else _BAG + _digest(row.text)


def is_part(row: Row) -> bool:
    """A part of a longer text (``with_parts``), not a text of its own."""
    return row.group.startswith(_BAG)


def _digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def windows_of(text: str) -> list[str]:
    """A long text's windows with their context, as the proxy cuts them by default; [] for
    a text of one window."""
    return cut_windows(text, WINDOW, CONTEXT)


def read_by_proxy(text: str, reading: str = "passages") -> list[str]:
    """Every part a head reading this way (``weights.READINGS``) scores for one input in
    the default proxy: the text and each of its windows, each with its passages or its
    sentences and chunks (the highest score wins)."""
    cut = passages if reading == "passages" else sentences
    views = [text, *windows_of(text)]
    return list(dict.fromkeys(p for view in views for p in (view, *cut(view))))


def parts_of(text: str, reading: str = "passages") -> list[str]:
    """The parts of a long text a head is trained on beside the text: for one reading
    passages, its first windows and first passages (those within the 200 words training
    embeds); for one reading sentences, SENTENCES_PER_TEXT of what the proxy reads of it
    (sentences, chunks, windows and theirs)."""
    if reading == "passages":
        return windows_of(text)[:WINDOWS_PER_TEXT] + passages(text)[:PASSAGES_PER_TEXT]
    return sorted(read_by_proxy(text, reading)[1:], key=_digest)[:SENTENCES_PER_TEXT]


def with_parts(rows: list[Row], reading: str, whole: tuple[str, ...] = ()) -> list[Row]:
    """The rows and, for each negative, its parts as a head reading this way is read by
    the proxy (``parts_of``), each a negative of its text's bag (``bag_of``): a harmless
    text is flagged when any part is, so the parts teach the head and set its thresholds.
    A positive stays whole (one of its parts may be harmless), and so does a negative of a
    ``whole`` source: a look-alike's part may be what it quotes or argues against ("'they
    are vermin', he wrote; it is vile"). Deduplicated, sorted."""
    return _dedup(rows + [r._replace(text=part, group=_BAG + _digest(r.text)) for r in rows
                          if r.label == 0 and r.source not in whole
                          for part in parts_of(r.text, reading)])


# the look-alikes written to teach the sentence heads a distinction: never cut into parts
WRITTEN_CONTRASTS = ("authored", "authored_requests")


# ----- measurement sets: never trained on, never used to choose a threshold -----

def measure_xstest(data: Path) -> list[Row]:
    """XSTest prompts (CC-BY-4.0): 200 unsafe (label 1), 250 safe look-alikes (label 0)."""
    return [Row(r["prompt"], int(r["label"] == "unsafe"), f"xstest:{r['type']}", "xstest")
            for r in _csv(data / "xstest/xstest_prompts.csv")]


def measure_jailbreakbench(data: Path) -> list[Row]:
    """JailbreakBench artifacts (MIT): attack prompts (label 1), null prompts dropped."""
    return [Row(str(r["prompt"]), 1, f"jbb:{r['method']}", "jailbreakbench")
            for r in _jsonl(data / "jailbreakbench_artifacts/jbb_artifacts.jsonl")
            if r.get("prompt")]


def measure_hh_first_turns(data: Path) -> list[Row]:
    """HH-RLHF harmless test first user turns (MIT): unlabeled (label -1), flag rate only."""
    return [Row(str(r["first_user_turn"]), -1, "hh", "hh_rlhf")
            for r in _jsonl(data / "hh_rlhf_harmless_test/harmless_base_test.jsonl")]


# ----- toxicity and hate (input and output) -----

DAVIDSON = "davidson_hate_offensive/labeled_data.csv"
DAVIDSON_CLASSES = {"0": "hate", "1": "offensive", "2": "neither"}
_TWEET_NOISE = re.compile(r"(?:\bRT\b|@\w+|https?://\S+|&#?\w+;)\s*:?")


def _digest_bucket(text: str, buckets: int = 10) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % buckets


def davidson_part(text: str) -> str:
    """Which part of the Davidson set a tweet is in: ``measure`` (30%, by a hash of the
    cleaned text, so that retweets of one text by different handles stay in one part:
    never trained on) or ``train``."""
    return "measure" if _digest_bucket(clean_tweet(text)) < 3 else "train"


def davidson(data: Path, part: str) -> list[Row]:
    """Davidson tweets (MIT) of one part; ``group`` is the class name (hate, offensive,
    neither), ``label`` 1 for hate or offensive. The measurement part keeps a third of the
    offensive tweets (77% of the set; by hash): enough for an AUC, and minutes less of
    encoder time per run; training takes them all (measured: Davidson AUC 0.951 -> 0.956)."""
    rows = []
    for r in _csv(data / DAVIDSON):
        kind = DAVIDSON_CLASSES[r["class"]]
        if davidson_part(r["tweet"]) != part or (
                part == "measure" and kind == "offensive"
                and _digest_bucket(r["tweet"] + "#", 3) != 0):
            continue
        rows.append(Row(r["tweet"], int(kind != "neither"), kind, "davidson"))
    return rows


def clean_tweet(text: str) -> str:
    """A tweet as a chat message would read: without retweet marks, handles, links and
    HTML entities (training text only; measurement reads the tweets as they are)."""
    return " ".join(_TWEET_NOISE.sub(" ", text).split())


def toxigen(data: Path) -> list[Row]:
    """ToxiGen statements (MIT): implicit hate (1) and neutral statements about the same
    identity groups (0), the hard negatives that neutral identity mentions need."""
    return [Row(r["text"], int(r["label"] == "hate"), f"toxigen:{r['target_group']}",
                "toxigen") for r in _csv(data / "toxigen_statements/toxigen_statements.csv")]


AUTHORED = Path(__file__).with_name("authored") / "hate_contrast.yaml"


def authored_hate(path: Path = AUTHORED) -> list[Row]:
    """The developers' own sentences (see the file's header): hateful templates (1) and
    their contrasts (0), each once per group, swearing that targets nobody (0), and abuse
    of a person or of a group chosen by conduct (1: abuse; ``training_hate`` reads it as 0,
    since it targets no protected group)."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = [Row(t.format(g=g), 1, f"authored:hateful{i}", "authored")
            for i, t in enumerate(spec["hateful"]) for g in spec["groups"]]
    rows += [Row(t.format(g=g), 0, f"authored:contrast{i}", "authored")
             for i, t in enumerate(spec["contrast"]) for g in spec["groups"]]
    rows += [Row(t, 0, f"authored:unaimed{i}", "authored")
             for i, t in enumerate(spec["unaimed"])]
    rows += [Row(t, 1, f"authored:abuse{i}", "authored")
             for i, t in enumerate(spec["abuse"])]
    return [r._replace(text=r.text[0].upper() + r.text[1:]) for r in rows]


def _benign(data: Path) -> list[Row]:
    return [r for r in benign_requests(data) if r.source != "toxigen_neutral"]


def training_toxicity(data: Path) -> list[Row]:
    """Abuse of any target, explicit or implicit: Davidson hate and offensive tweets,
    ToxiGen hate, the authored hateful and abusive sentences (1) against Davidson neither, ToxiGen
    neutral, the authored contrasts and benign instructions (0)."""
    tweets = [r._replace(text=clean_tweet(r.text)) for r in davidson(data, "train")]
    rows = with_parts([r for r in tweets if r.text] + toxigen(data) + authored_hate()
                      + _benign(data), "sentences", WRITTEN_CONTRASTS)
    # a sentence of a tweet can be another tweet (a retweet with a comment): a part is in
    # the Davidson part its own text hashes to, so no measured tweet comes back as a part
    return [r for r in rows if not (is_part(r) and r.source == "davidson"
                                    and davidson_part(r.text) == "measure")]


def training_hate(data: Path) -> list[Row]:
    """Hate against a group: ToxiGen hate and the authored hateful sentences (1) against
    ToxiGen neutral statements, the authored contrasts (mentions, reports, negations,
    counter-speech, swearing that targets nobody, abuse of a person or of a group chosen by
    conduct) and benign instructions (0). Davidson is left out: its
    labels make any slur or swear word hate or offence (measured: with its tweets, HateCheck
    AUC falls from 0.78 to 0.72)."""
    not_hate = [r._replace(label=0) if r.group.startswith("authored:abuse") else r
                for r in authored_hate()]
    return with_parts(toxigen(data) + not_hate + _benign(data), "sentences",
                      WRITTEN_CONTRASTS)


def _dedup(rows: list[Row]) -> list[Row]:
    """Deduplicated by stripped text (the first row wins), sorted: deterministic input."""
    seen: dict[str, Row] = {}
    for row in rows:
        seen.setdefault(row.text.strip(), row._replace(text=row.text.strip()))
    return sorted(seen.values())


def measure_hatecheck(data: Path) -> list[Row]:
    """HateCheck test cases (CC-BY-4.0): hateful (1) / non-hateful (0); group is the
    functionality (counter-speech, negation, profanity, slurs ...)."""
    return [Row(r["test_case"], int(r["label_gold"] == "hateful"), r["functionality"],
                "hatecheck") for r in _csv(data / "hatecheck/test_suite_cases.csv")]


def measure_davidson(data: Path) -> list[Row]:
    """The Davidson part never trained on, tweets as they are; label 1 hate or offensive."""
    return davidson(data, "measure")


def measure_xstest_completions(data: Path) -> list[Row]:
    """XSTest answers of three models with human gold labels (group: model/final_label);
    label 1 for a full or partial refusal."""
    return [Row(r["completion"], int(r["final_label"] != "1_full_compliance"),
                f"{r['model']}/{r['final_label']}", "xstest_completions")
            for r in _csv(data / "xstest/xstest_v2_completions_dev.csv")]
