"""TIMIT phone sets: the 61 labels of the ``.PHN`` files, the 48-phone training set and the 39-phone
scoring set (Lee & Hon 1989), as in Kaldi's ``egs/timit/s5/conf/phones.60-48-39.map``.

``q`` (the glottal stop) is one of the 61 labels but, as in Lee & Hon and in that map, it has no
48- or 39-phone equivalent: its frames are a class when training on 61 phones, are not trained on
(``IGNORE_LABEL``) with 48 or 39, and are never scored (:func:`score_map` gives them -1).
"""

# phone -> (48-set phone, 39-set phone); q maps to None in both
FOLDING: dict[str, tuple[str, str] | None] = {
    "aa": ("aa", "aa"), "ae": ("ae", "ae"), "ah": ("ah", "ah"), "ao": ("ao", "aa"), "aw": ("aw", "aw"),
    "ax": ("ax", "ah"), "ax-h": ("ax", "ah"), "axr": ("er", "er"), "ay": ("ay", "ay"), "b": ("b", "b"),
    "bcl": ("vcl", "sil"), "ch": ("ch", "ch"), "d": ("d", "d"), "dcl": ("vcl", "sil"), "dh": ("dh", "dh"),
    "dx": ("dx", "dx"), "eh": ("eh", "eh"), "el": ("el", "l"), "em": ("m", "m"), "en": ("en", "n"),
    "eng": ("ng", "ng"), "epi": ("epi", "sil"), "er": ("er", "er"), "ey": ("ey", "ey"), "f": ("f", "f"),
    "g": ("g", "g"), "gcl": ("vcl", "sil"), "h#": ("sil", "sil"), "hh": ("hh", "hh"), "hv": ("hh", "hh"),
    "ih": ("ih", "ih"), "ix": ("ix", "ih"), "iy": ("iy", "iy"), "jh": ("jh", "jh"), "k": ("k", "k"),
    "kcl": ("cl", "sil"), "l": ("l", "l"), "m": ("m", "m"), "n": ("n", "n"), "ng": ("ng", "ng"),
    "nx": ("n", "n"), "ow": ("ow", "ow"), "oy": ("oy", "oy"), "p": ("p", "p"), "pau": ("sil", "sil"),
    "pcl": ("cl", "sil"), "q": None, "r": ("r", "r"), "s": ("s", "s"), "sh": ("sh", "sh"), "t": ("t", "t"),
    "tcl": ("cl", "sil"), "th": ("th", "th"), "uh": ("uh", "uh"), "uw": ("uw", "uw"), "ux": ("uw", "uw"),
    "v": ("v", "v"), "w": ("w", "w"), "y": ("y", "y"), "z": ("z", "z"), "zh": ("zh", "sh"),
}

PHONES_61 = sorted(FOLDING)
PHONES_48 = sorted({f[0] for f in FOLDING.values() if f})
PHONES_39 = sorted({f[1] for f in FOLDING.values() if f})
PHONE_SETS = {61: PHONES_61, 48: PHONES_48, 39: PHONES_39}


def fold(phone: str, size: int) -> str | None:
    """``phone`` (one of the 61) in the ``size``-phone set (61, 48 or 39); None for ``q`` in 48/39."""
    if size == 61:
        return phone
    folded = FOLDING[phone]
    return None if folded is None else folded[{48: 0, 39: 1}[size]]


def label_table(size: int) -> dict[str, int]:
    """Each of the 61 phones -> its class id in the ``size``-phone training set (-1: not trained on)."""
    classes = {p: i for i, p in enumerate(PHONE_SETS[size])}
    return {p: classes[f] if (f := fold(p, size)) is not None else -1 for p in PHONES_61}


def score_map(size: int) -> list[int]:
    """Class id in the ``size``-phone training set -> class id in the 39-phone scoring set; a class
    with no 39-phone equivalent (``q`` in the 61 set) -> -1, not scored."""
    to39 = {p: i for i, p in enumerate(PHONES_39)}
    # each class of the set, through one of the 61 phones that folds to it (the folding is consistent)
    source = {fold(p, size): p for p in PHONES_61}
    return [to39[f] if (f := fold(source[phone], 39)) is not None else -1 for phone in PHONE_SETS[size]]
