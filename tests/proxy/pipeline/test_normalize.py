"""Canonical views (proxy/pipeline/normalize.py): disguises fold, ordinary text stays.

Disguised texts are written with escapes so the file stays readable: \\u0430 is Cyrillic a,
\\u0455 Cyrillic dze (s), \\u0456 Cyrillic i, \\u043e Cyrillic o, \\u03bf Greek omicron.
"""

from __future__ import annotations

import base64
import random

import pytest

from proxy.pipeline import normalize
from proxy.pipeline.normalize import canonical_views, deciphered, decoded, skeleton
from proxy.pipeline.normalize_cipher import ciphers_in
from proxy.pipeline.normalize_decode import ENCODINGS
from tests.evasion.disguises import braille, selectors, sneaky_bits, spelled


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


# (disguised text, a plain phrase that one of its views must contain)
DISGUISES = [
    # look-alike letters (Unicode confusables) and compatibility forms
    ("y\u043eu \u0430re \u0430n \u0456di\u043et", "you are an idiot"),
    ("\u0455hit", "shit"),
    ("idi\u03bft", "idiot"),
    ("\u0430\u0455\u0455", "ass"),
    ("\uff46\uff55\uff43\uff4b off", "fuck off"),  # fullwidth
    ("\U0001d41f\U0001d42e\U0001d41c\U0001d424", "fuck"),  # mathematical bold
    ("\u24d5\u24e4\u24d2\u24da", "fuck"),  # circled
    ("\ua730\u1d1c\u1d04\u1d0b", "fuck"),  # small capitals
    ("\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439, you are an \u0430\u0455\u0455",
     "you are an ass"),  # a Russian greeting does not shield an English insult
    # format characters
    ("i\u200bd\u200bi\u200bo\u200bt", "idiot"),
    ("i\u200cd\u200di\u2060o\ufefft", "idiot"),
    ("id\u00adiot", "idiot"),  # soft hyphen
    ("\u202etoidi na era uoy", "you are an idiot"),  # right-to-left override
    ("hello" + "".join(chr(0xE0000 + ord(c)) for c in "you are an idiot"),
     "you are an idiot"),  # tag characters: invisible ASCII
    ("Read this: " + selectors("you are an idiot"),
     "you are an idiot"),  # variation selectors: a byte each ("emoji smuggling")
    ("".join(c + "\u0337\u0336" for c in "idiot"), "idiot"),  # strike-through marks
    ("i\u0301\u0316\u0353d\u0350\u036ci\u0489o\u0300\u0300t", "idiot"),  # zalgo
    # leetspeak
    ("you are an 1d10t", "you are an idiot"),
    ("f*ck", "fuck"),
    ("sh!t", "shit"),
    ("$hit", "shit"),
    ("@ss", "ass"),
    ("I h4te them", "I hate them"),
    ("SH1T", "SHiT"),
    ("y0u 4r3 4 57up1d 1d107", "you are 4 stupid idiot"),  # a lone "4" is a number
    ("1D10T", "iDioT"),
    ("slu7", "slut"),
    # spaced letters
    ("i d i o t", "idiot"),
    ("i.d.i.o.t", "idiot"),
    ("i-d-i-o-t", "idiot"),
    ("i_d_i_o_t", "idiot"),
    ("you f u c k i n g moron", "you fucking moron"),
    ("I h a t e you", "I hate you"),
    ("what an a s s h o l e", "what an asshole"),
    ("i d 1 o t", "idiot"),
    # encoded runs
    (b64("you are an idiot"), "you are an idiot"),
    (f"look: {b64('fuck you all')} ok", "look: fuck you all ok"),
    (f"https://x.test/?q={b64('you are an idiot')}&page=2", "?q=you are an idiot&page=2"),
    (b"you are an idiot".hex(), "you are an idiot"),
    (percent("idiot"), "idiot"),
    (f"/search?q={percent('fuck you')}", "/search?q=fuck you"),
    # escapes, character references, codes, Morse
    ("\\u0069\\u0064\\u0069\\u006f\\u0074", "idiot"),
    ("say \\x69\\x64\\x69\\x6f\\x74 now", "say idiot now"),
    ("&#105;&#100;&#x69;&#x6F;&#116;", "idiot"),
    ("105 100 105 111 116 32 121 111 117", "idiot you"),
    ("105, 100, 105, 111, 116, 33", "idiot!"),
    ("01101001 01100100 01101001 01101111 01110100", "idiot"),
    ("0110100101100100011010010110111101110100", "idiot"),
    (".. -.. .. --- - / -.-- --- ..-", "idiot you"),
    ("..  -..  ..  ---  -", "i d i o t"),  # two spaces: words of a letter each
    (".. -.. .. --- - | ... -.-. ..- --", "idiot scum"),
    # Braille, base32, the spelling alphabet, invisible bits
    (braille("you are an idiot"), "you are an idiot"),
    ("\u2820\u283d\u2815\u2825 \u283c\u2801\u2803 \u280a\u2819\u280a\u2815\u281e\u280e",
     "you 12 idiots"),  # capital and number signs
    (base64.b32encode(b"you are an idiot").decode(), "you are an idiot"),
    (spelled("you are an idiot"), "you are an idiot"),
    ("Bravo Oscar Mike Bravo", "bomb"),
    (spelled("you are a stupid idiot", between=" "), "stupid idiot"),  # no breaks: cut
    ("Hotel-Oscar-Whiskey  Tango-Oscar  Kilo-India-Lima-Lima", "how to kill"),
    ("read " + sneaky_bits("you are an idiot") + " now", "you are an idiot"),
    ("read " + sneaky_bits("you are an idiot", width=7) + " now", "you are an idiot"),
    # combinations
    ("y\u043eu \u0430re \u0430n \u0456\u200bd\u200b1\u200b0\u200bt", "you are an idiot"),
    ("\uff53\uff48\uff11\uff54", "shit"),  # fullwidth leet
    ("\u0456 d \u0456 \u043e t", "idiot"),  # spaced look-alikes
    ("\u0456.d.1.\u043e.t", "idiot"),
    (b64("you are an 1d10t"), "you are an idiot"),
    (b64("y\u043eu \u0430re \u0430n idiot"), "you are an idiot"),
    ("\u202e\u0442\u043e\u0456d\u0456", "idiot"),  # override over look-alikes
]


@pytest.mark.parametrize(("text", "plain"), DISGUISES)
def test_a_disguise_folds_to_the_plain_words(text, plain):
    views = canonical_views(text)
    assert any(plain in view for view in views), views


UNCHANGED = [
    "Please summarise the plot of a detective novel in two sentences.",
    "I have a cat. Is it a good idea to adopt a dog too?",
    "The year 2024 cost $5, pi is 3.14, the 4th in the 1990s, 10% off.",
    "Item 1 of 3, Q1 results, HTML5 and CSS3 on x86_64, a 24mm lens, base64 and utf8.",
    "Person1 asks Question2 about $HOME, 3D prints and the 1080p screen of a PS4.",
    "def f(x):\n    return x[0] + 1  # see https://example.com/a/b?q=1&page=2",
    "for (int i = 0; i < n; i++) { a[i] = b[i] * 2; }",
    "Mail john.doe@example.com, commit e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b",
    "U.S. policy, e.g. this one, i.e. that one.",
    "Wow!!! That's **great** -- really *great*!",
    "Nice \U0001f600\U0001f44d \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",  # Chinese
    "\u4eca\u65e5\u306f\u3044\u3044\u5929\u6c17\u3067\u3059\u306d\u3002",  # Japanese
    "\uc548\ub155\ud558\uc138\uc694 \u314b\u314b\u314b",  # Korean, with compatibility jamo
    "Zo\u00eb is na\u00efve; caf\u00e9 cr\u00e8me, r\u00e9sum\u00e9, Stra\u00dfe, Bj\u00f6rk",
    "k\u0131rm\u0131z\u0131 \u0142\u00f3d\u017a \u00f8l \u00e7a",  # Turkish, Polish, Danish
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u0394\u03b5\u03bd \u03be\u03ad\u03c1\u03c9 \u03c4\u03b9 "
    "\u03bd\u03b1 \u03ba\u03ac\u03bd\u03c9.",  # Greek
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0643",  # Arabic
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, with its ZWNJ
    "\u0928\u092e\u0938\u094d\u200d\u0924\u0947",  # Devanagari, with a ZWJ
    "It costs 5\u20ac, about \u00a34.",
    "ThisIsAVeryLongIdentifierName in /usr/local/lib/site-packages/some_module/__init__.py",
    "Call 555 123 4567; scores 12, 45, 67, 89, 90, 100; build 1.2.3 on 10 01 2024.",
    "The path C:\\Users\\me\\new and \\n, \\t in a string, and \\d+ in a regex.",
    "Wait... -- it's -- over. - Item - item - item.",
    "Mike and Juliet stayed at the Hotel Lima with Oscar, then played golf.",
]


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_text_has_no_view(text):
    assert canonical_views(text) == []


@pytest.mark.parametrize("text", ["Zo\u00eb", "na\u00efve", "caf\u00e9", "\u00e7a", "\u0131"])
def test_the_skeleton_keeps_accents_and_latin_letters(text):
    assert skeleton(text) == text


@pytest.mark.parametrize(("text", "composed"), [
    ("cafe\u0301", "caf\u00e9"), ("Vie\u0323\u0302t Nam", "Vi\u1ec7t Nam"),
    ("re\u0301sume\u0301", "r\u00e9sum\u00e9")])
def test_decomposed_accents_compose_and_stay(text, composed):
    assert skeleton(text) == composed


@pytest.mark.parametrize("text", [
    "I \u2764\ufe0f you", "\u2764\ufe0f\ufe0f twice", "\u845b\U000e0100 and \u845b\U000e0101",
    "\u263a\ufe0e text style"])
def test_a_variation_selector_that_picks_a_glyph_is_not_a_message(text):
    assert skeleton(text) == text


def test_a_subdivision_flags_tags_are_not_a_message():
    england = "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in "gbeng") + "\U000e007f"
    assert skeleton(f"Go {england}!") == "Go \U0001f3f4!"


@pytest.mark.parametrize("text", [
    "hello", "Please summarise the plot of a detective novel.", "a b", "I am OK!", "x" * 4000])
def test_plain_ascii_takes_the_fast_path_to_no_view(text):
    assert canonical_views(text) == []


def test_views_come_in_order_each_different_from_the_text_and_each_other():
    encoded = b"you are scum".hex()
    text = f"\u0456d 1d10t i d i o t {encoded}"
    assert canonical_views(text) == [
        f"id 1d10t i d i o t {encoded}",  # skeleton
        f"id idiot i d i o t {encoded}",  # deleet
        f"id idiot idiot {encoded}",  # joined
        "id 1d10t i d i o t you are scum",  # decoded
        "id idiot i d i o t you are scum",  # decoded, then deleet
        "id idiot idiot you are scum",  # decoded, then joined
    ]


def test_a_run_is_decoded_once_not_twice():
    inner = b64("you are an idiot")
    views = canonical_views(b64(inner))
    assert inner in views
    assert not any("idiot" in view for view in views)


@pytest.mark.parametrize("text", [
    base64.b64encode(bytes(range(256))).decode(),  # binary, not text
    "0123456789abcdef" * 4,  # a hex id decoding to bytes that are not UTF-8 text
    "%FF%FE%00%01",
])
def test_runs_that_do_not_decode_to_text_stay(text):
    assert decoded(text) == text


def test_the_function_is_pure_and_deterministic():
    text = "y\u043eu \u0430re \u0430n 1d10t"
    assert canonical_views(text) == canonical_views(text) == ["you are an 1d10t",
                                                             "you are an idiot"]


@pytest.mark.parametrize("piece", [
    "Please summarise the plot of a detective novel in two sentences. ",
    "y\u043eu \u0430re \u0430n \u0456di\u043et 1d10t i d i o t ",
    f"{b64('you are an idiot')} %69%64 ",
    "\u03ba\u03b1\u03b9 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac ",
    "a\u200d",
    ".- -... / ",
    "104, 97 ",
    "\\u0068&#104;",
    "Alfa Bravo Charlie ",  # one run of a million characters, no word break
    "\u2801\u2803\u2809 \u283c",
    "\u2062\u2064\u2062\u2062\u2064\u2062\u2062\u2064\u200b",
    "\U0001f600\ufe00\U000e0100",
])
def test_a_one_megabyte_text_completes(piece):
    text = piece * (1_000_000 // len(piece) + 1)
    views = canonical_views(text)
    assert all(isinstance(view, str) and view != text for view in views)


def _every_fold(text: str) -> list[str]:
    """canonical_views with every fold forced on: what the byte-class signs may skip."""
    every = normalize._Signs(leet=True, spaced=True, encoded=ENCODINGS, ciphers=[])
    shape = skeleton(text)
    views = normalize._folds(shape, every)
    unpacked = decoded(shape)
    if unpacked != shape:
        views += [unpacked, *normalize._folds(skeleton(unpacked), every)]
    views += deciphered(shape, ciphers_in(shape.encode()))
    return [view for view in dict.fromkeys(views) if view != text and view.strip()]


ENCODED_RUNS = [b64("you are an idiot"), "%79%6f%75%20%69%64%69%6f%74", "\\u0069\\x64&#105;",
                "&#x64;&#105;&#111;&#116;", "01101001 01100100 01101001 01101111",
                "105, 100, 105, 111, 116, 115", ".. -.. .. --- -", braille("idiot"),
                "69646f7420696469", "NFSWI33UEBUWI2LPOQ======", "12 34", "1 2 3 4 5 6 7"]


def test_a_text_is_searched_for_the_encodings_its_signs_name_and_decodes_the_same():
    """Each kind of encoded run alone, in pairs and among words (numbers and dots that
    decode to nothing too): the views are those of decoding every kind everywhere."""
    fillers = ["", "Please summarise (3f9a1c2b7d04-1234) this: ", " and then ", " ok."]
    rng = random.Random(3)
    texts = [run for run in ENCODED_RUNS] + [
        rng.choice(fillers) + first + rng.choice(fillers) + second + rng.choice(fillers)
        for first in ENCODED_RUNS for second in ENCODED_RUNS]
    for text in texts:
        shape = skeleton(text)
        kinds = normalize._signs(shape).encoded
        assert decoded(shape, kinds) == decoded(shape), text
        assert canonical_views(text) == _every_fold(text), text
    assert normalize._signs("you are an idiot").encoded == frozenset()


def test_the_signs_never_skip_a_fold():
    """The fast path's byte-class signs are a superset of what the folds change."""
    rng = random.Random(7)
    for alphabet in ("abcdeIisxyz  013457289@$!*_.-|+~%=/\u0430\u00e9\u4f60\u200b\u200d\u202eAF",
                     "aI d1 _.-e$\u0456\u00e9\u4f60\u200d\uff0c",
                     ".-.- -- . / "):  # Morse
        for _ in range(3000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
            assert canonical_views(text) == _every_fold(text), text
    pieces = ["\\u0068", "\\x41", "&#104;", "&#x68;", "104", "97", "32", "01101000",
              " ", " ", ", ", ",", "x", "."]  # escapes, references, codes apart
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 16)))
        assert canonical_views(text) == _every_fold(text), text
    for _ in range(3000):  # numbers apart, each separator on its own
        separator = rng.choice([" ", ", ", ",", "  "])
        text = separator.join(rng.choice(["97", "104", "32", "9", "01101000", "300"])
                              for _ in range(rng.randint(1, 10)))
        assert canonical_views(text) == _every_fold(text), text


def test_deleet_reads_exactly_the_tokens_its_pattern_names() -> None:
    """deleet finds the tokens holding a leet digit or sign by byte classes (widened over
    the letters and digits of other scripts around them), and reads only those _LEET_TOKEN
    names: the same text as substituting _LEET_TOKEN's own matches, or _LEET_SIGNED's
    (fails when the search misses a kind of token, or passes over a word)."""
    rng = random.Random(11)
    alphabet = ("aAbBzZsT0123456789@$!*_ .-\n,'\"\u00e9\u65e5?\u0131\u0663\u00b2\u2177"
                "\u2500\u00a0\U0001f600")  # other scripts' letters and digits, and not
    words = ["h3ll0", "sh1t", "f*ck", "@ss", "$ex", "bob@ex4mple.com", "1st", "24mm", "u53r",
             "p@55w0rd", "x", "10", "_a1", "a1b2c3d4e5f6a7b8c", "a1b2c3d4e5f6a7b8", "4b", "ab1"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
             for _ in range(50_000)]
    texts += [rng.choice(["", " ", "."]).join(rng.choice(words) for _ in range(rng.randint(0, 6)))
              for _ in range(20_000)]  # ASCII words: tokens either side of 3 and 17 letters
    for text in texts:
        deleeted = normalize.deleet(text)
        assert deleeted == normalize._LEET_TOKEN.sub(normalize._deleet_token, text), repr(text)
        assert deleeted == normalize._LEET_SIGNED.sub(normalize._deleet_token, text), repr(text)
