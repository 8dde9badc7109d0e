"""A recognizer's character set: ids 0 .. K-1 are its characters, id K the CTC blank (last, where
``suite.layers.ctc`` puts it).

The default is the 36 case-insensitive letters and digits of CRNN's
evaluation (Shi et al. 2017); ``Charset.of(name_or_characters)`` also takes
``alnum`` (case-sensitive letters and digits), ``printable`` (those and ASCII
punctuation) or any string of distinct characters. ``normalize`` lowers the
case of a text for a case-insensitive set; a character still outside the set
makes the text unusable: ``encode`` names it.
"""
import dataclasses
import string

import numpy as np

NAMED = {"lower": string.digits + string.ascii_lowercase,
         "alnum": string.digits + string.ascii_letters,
         "printable": string.digits + string.ascii_letters + string.punctuation + " "}


@dataclasses.dataclass(frozen=True)
class Charset:
    characters: str = NAMED["lower"]

    def __post_init__(self):
        if not self.characters:
            raise ValueError("a character set needs at least one character")
        repeated = sorted({c for c in self.characters if self.characters.count(c) > 1})
        if repeated:
            raise ValueError(f"a character set lists each character once; repeated: {repeated!r}")

    @classmethod
    def of(cls, spec):
        """A named set (``lower``, ``alnum``, ``printable``) or the characters of ``spec``."""
        return cls(NAMED.get(spec, spec))

    @property
    def blank(self):
        return len(self.characters)

    @property
    def num_classes(self):  # the characters and the blank
        return len(self.characters) + 1

    @property
    def case_insensitive(self):
        return not any(c.isupper() for c in self.characters)

    def normalize(self, text):
        return text.lower() if self.case_insensitive else text

    def outside(self, text):
        """The characters of ``text`` (normalised) outside the set, sorted."""
        return sorted(set(self.normalize(text)) - set(self.characters))

    def encode(self, text):
        """int32 ids of ``text`` (normalised); ValueError naming any character outside the set."""
        bad = self.outside(text)
        if bad:
            raise ValueError(f"characters outside the character set {self.characters!r}: {bad!r} in {text!r}")
        index = {c: i for i, c in enumerate(self.characters)}
        return np.array([index[c] for c in self.normalize(text)], np.int32)

    def decode(self, ids):
        """The text of ids (the blank, -1 padding and ids outside the set dropped)."""
        return "".join(self.characters[i] for i in np.asarray(ids).ravel() if 0 <= i < self.blank)
