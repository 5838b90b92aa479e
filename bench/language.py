"""What ``type: language`` costs, and how often it calls an English text foreign.

Prints one JSON document:
- ``us_per_text``: microseconds per text (median of repeated timings of one ``classify``
  call) for a short English prompt, a 4,000-character English text, a short Spanish
  request, a 4,000-character mix of scripts;
- ``share_at_least`` (needs ``../shared/data``, read in place): per data set, how many
  texts score ``other`` at 0.5 or more and at 0.9 or more with the default options
  (``languages: [en]``), each text read as the proxy reads it (whole and in the default
  streaming windows, with its canonical views; the highest part wins). self-instruct,
  XSTest, HateCheck, JailbreakBench and the HH-RLHF first user turns are English (what
  they flag are false alarms, or the few foreign texts they hold); awesome-chatgpt-prompts
  and Davidson's tweets hold some prompts and tweets in other languages; ``examples``: the
  first flagged texts of each, cut to 80 characters, to read which they are.

    python -m bench.language [--repeat 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import time
from pathlib import Path

from classifiers.heads import datasets
from classifiers.language import LanguageClassifier
from proxy.config.schema import StreamingConfig
from proxy.pipeline.normalize import canonical_views
from proxy.pipeline.views import Windowing, expand

DATA = Path(__file__).resolve().parents[2] / "shared/data"
TEXTS = {
    "short_english": "Please summarise the plot of a detective novel in two sentences.",
    "english_4000": ("The team shipped the new billing page last week and fixed most of the "
                     "bugs that customers reported. ") * 40,
    "short_spanish": "¿Cómo puedo hacer que mi vecino deje de hacer ruido por la noche?",
    "mixed_scripts_4000": ("Hello there, 你好世界, привет мир, مرحبا بالعالم, γειά σου κόσμε. ")
                          * 60,
}


async def timings(classifier: LanguageClassifier, repeat: int) -> dict[str, float]:
    out = {}
    for name, text in TEXTS.items():
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            await classifier.classify([text])
            runs.append(time.perf_counter() - start)
        out[name] = round(statistics.median(runs) * 1e6, 2)
    return out


def data_sets() -> dict[str, list[str]]:
    def rows(path: str) -> list[dict[str, str]]:
        with (DATA / path).open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    with (DATA / "hh_rlhf_harmless_test/harmless_base_test.jsonl").open() as handle:
        hh = [json.loads(line)["first_user_turn"] for line in handle if line.strip()]
    return {
        "self_instruct": [r.text for r in datasets.benign_requests(DATA)
                          if r.source == "self_instruct"],
        "xstest": [r.text for r in datasets.measure_xstest(DATA)],
        "hatecheck": [r["test_case"] for r in rows("hatecheck/test_suite_cases.csv")],
        "jailbreakbench": [r.text for r in datasets.measure_jailbreakbench(DATA)],
        "hh_rlhf_first_user_turn": hh,
        "awesome_chatgpt_prompts": [r.text for r in datasets.awesome_prompts(DATA)],
        "davidson_tweets": [r["tweet"] for r in rows("davidson_hate_offensive/labeled_data.csv")],
    }


async def shares(classifier: LanguageClassifier) -> dict[str, dict[str, object]]:
    streaming = StreamingConfig()
    windowing = Windowing(streaming.window_chars, streaming.context_chars)
    out: dict[str, dict[str, object]] = {}
    for name, texts in data_sets().items():
        parts = expand(texts, windowing, canonical_views)
        scores = [s["other"] for s in parts.fold(await classifier.classify(parts.views))]
        out[name] = {"texts": len(texts),
                     "at_least_0.5": sum(score >= 0.5 for score in scores),
                     "at_least_0.9": sum(score >= 0.9 for score in scores),
                     "examples": [text[:80] for text, score in zip(texts, scores, strict=True)
                                  if score >= 0.5][:5]}
    return out


async def main(repeat: int) -> dict[str, object]:
    classifier = LanguageClassifier("language", {})
    await classifier.start()
    figures: dict[str, object] = {"us_per_text": await timings(classifier, repeat)}
    figures["share_at_least"] = (await shares(classifier) if DATA.exists()
                                 else {"missing": str(DATA)})
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    print(json.dumps(asyncio.run(main(parser.parse_args().repeat)), indent=2,
                     ensure_ascii=False))
