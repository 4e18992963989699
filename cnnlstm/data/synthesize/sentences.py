"""Sentences for the TIMIT corpus: TIMIT's two dialect sentences and seeded ones from a small grammar.

Every speaker reads ``SA1`` and ``SA2`` (the same two texts, as in TIMIT); ``SX`` sentences come
from a shared pool that several speakers read, ``SI`` sentences are each read once. No digits
or abbreviations, so festival's words are the text's words.
"""

import numpy as np

SA = {"SA1": "She had your dark suit in greasy wash water all year.",
      "SA2": "Don't ask me to carry an oily rag like that."}

DETERMINERS = "the a every my your his her our that this".split()
ADJECTIVES = ("old young small large quiet bright dark cold warm heavy gentle yellow green "
              "brown rusty clever lazy tired happy strange").split()
NOUNS = ("dog cat bird horse farmer teacher doctor child river garden window kitchen lamp boat "
         "road market letter basket table mountain engine wagon carpet pencil").split()
VERBS = ("found carried watched painted opened pushed followed cleaned washed dropped noticed "
         "borrowed needed ordered visited").split()
PREPOSITIONS = "near under behind beside across inside past toward".split()
ADVERBS = "slowly quickly quietly often never always carefully".split()


def noun_phrase(rng: np.random.Generator) -> str:
    """``determiner [adjective] noun``."""
    words = [rng.choice(DETERMINERS)]
    if rng.random() < 0.6:
        words.append(rng.choice(ADJECTIVES))
    return " ".join([*words, rng.choice(NOUNS)])


def sentence(rng: np.random.Generator) -> str:
    """One sentence: ``NP [adverb] verb NP [preposition NP].`` with a capital and a full stop."""
    parts = [noun_phrase(rng)]
    if rng.random() < 0.3:
        parts.append(rng.choice(ADVERBS))
    parts += [rng.choice(VERBS), noun_phrase(rng)]
    if rng.random() < 0.7:
        parts += [rng.choice(PREPOSITIONS), noun_phrase(rng)]
    text = " ".join(parts)
    return text[0].upper() + text[1:] + "."


def sentences(count: int, rng: np.random.Generator, avoid: set[str] = frozenset()) -> list[str]:
    """``count`` distinct sentences, none of them in ``avoid``."""
    out, seen = [], set(avoid)
    while len(out) < count:
        text = sentence(rng)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def words(text: str) -> list[str]:
    """The words of ``text`` as TIMIT's ``.WRD`` writes them: lower case, no punctuation but apostrophes."""
    return ["".join(c for c in w.lower() if c.isalpha() or c == "'") for w in text.split()]
