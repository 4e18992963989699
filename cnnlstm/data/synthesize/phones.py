"""Festival's phones as TIMIT's 61: the map is data, the conversion adds TIMIT's stop closures.

Festival's US voices (kal_diphone, ked_diphone, cmu_us_slt_arctic_hts) speak the ``radio``
phoneset, the British ones ``mrpa``. TIMIT transcribes a stop as a closure and a release
(``tcl t``) and an affricate the same way (``dcl jh``, ``tcl ch``), silence at the ends as ``h#``
and pauses inside as ``pau``; :func:`timit_phones` turns festival's segments into that.
"""

TIMIT61 = frozenset((
    "b d g p t k dx q bcl dcl gcl pcl tcl kcl jh ch s sh z zh f th v dh m n ng em en eng nx "
    "l r w y hh hv el iy ih eh ey ae aa aw ay ah ao oy ow uh uw ux er ax ix axr ax-h pau epi h#").split())

SILENCES = frozenset(("pau", "#", "h#", "brth", "sil"))

# radio is ARPAbet, TIMIT's own alphabet: every phone but the silences maps to itself
RADIO_TO_TIMIT = {p: p for p in (
    "aa ae ah ao aw ax axr ay b ch d dh dx eh el em en er ey f g hh hv ih iy jh k l m n nx ng ow oy p r "
    "s sh t th uh uw v w y z zh").split()}

MRPA_TO_TIMIT = {
    "uh": "ah", "e": "eh", "a": "ae", "o": "aa", "i": "ih", "u": "uh", "ii": "iy", "uu": "uw", "oo": "ao",
    "aa": "aa", "@@": "er", "ai": "ay", "ei": "ey", "oi": "oy", "au": "aw", "ou": "ow", "e@": "eh",
    "i@": "ih", "u@": "uh", "@": "ax", "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "g", "s": "s",
    "z": "z", "sh": "sh", "zh": "zh", "f": "f", "v": "v", "th": "th", "dh": "dh", "ch": "ch", "jh": "jh",
    "h": "hh", "m": "m", "n": "n", "ng": "ng", "l": "l", "y": "y", "r": "r", "w": "w",
}

PHONESETS = {"radio": RADIO_TO_TIMIT, "mrpa": MRPA_TO_TIMIT}

# the closure TIMIT writes before each stop and affricate release
CLOSURES = {"b": "bcl", "d": "dcl", "g": "gcl", "p": "pcl", "t": "tcl", "k": "kcl", "jh": "dcl", "ch": "tcl"}
CLOSURE_SHARE = 0.6  # the closure's part of festival's stop segment (TIMIT: ~50-70 ms silence, ~20-40 ms burst)


def timit_phone(name: str, phoneset: str = "radio") -> str:
    """The TIMIT phone of one festival non-silence phone; ValueError naming an unknown one."""
    try:
        return PHONESETS[phoneset][name]
    except KeyError:
        raise ValueError(f"festival phone {name!r} of phoneset {phoneset!r} has no TIMIT phone") from None


def timit_phones(ends: list[int], names: list[str], phoneset: str = "radio") -> list[tuple[int, int, str]]:
    """``(start, end, phone)`` rows from festival's segments given as end samples and names.

    Rows are contiguous from 0 to ``ends[-1]``; silences become ``h#`` at the ends and ``pau``
    inside (adjacent ones merged); a stop long enough is split into closure and release; a
    segment that scaled to zero samples is dropped.
    """
    rows, start = [], 0
    for end, name in zip(ends, names):
        if end <= start:
            continue
        if name not in SILENCES:
            rows.extend(_with_closure(start, end, timit_phone(name, phoneset)))
        elif rows and rows[-1][2] == "pau":
            rows[-1] = (rows[-1][0], end, "pau")
        else:
            rows.append((start, end, "pau"))
        start = end
    return _silent_ends(rows)


def _with_closure(start: int, end: int, phone: str) -> list[tuple[int, int, str]]:
    """A stop or affricate as closure + release (when both get a sample), anything else as it is."""
    split = start + round(CLOSURE_SHARE * (end - start))
    if phone in CLOSURES and start < split < end:
        return [(start, split, CLOSURES[phone]), (split, end, phone)]
    return [(start, end, phone)]


def _silent_ends(rows: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """TIMIT's ``h#`` for the silence at either end."""
    for i in (0, -1):
        if rows and rows[i][2] == "pau":
            rows[i] = (rows[i][0], rows[i][1], "h#")
    return rows
