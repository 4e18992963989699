"""Offline speech corpora in the real on-disk formats: ``python -m cnnlstm.data.synthesize``.

``timit``: the LDC TIMIT tree (NIST SPHERE audio, ``.PHN``/``.WRD``/``.TXT`` in samples) from
festival voices warped into speakers by sox; ``speech_commands``: the Speech Commands v2 folder
(1 s WAVs, lists, ``_background_noise_``) from festival, flite and espeak-ng voices varied in
numpy. Modules: :mod:`.phones` (festival -> TIMIT phone map), :mod:`.sentences`, :mod:`.festival`,
:mod:`.speakers`, :mod:`.timit`, :mod:`.voices`, :mod:`.variants`, :mod:`.noise`,
:mod:`.speech_commands`, :mod:`.tools`, :mod:`.command`.
"""
