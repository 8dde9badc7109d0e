"""The character vocabulary of every speech model, in one place.

Ids 0 .. K-1 are the characters of ``CHARACTERS`` (space, a-z, apostrophe);
id K is the CTC blank, last, where ``tf.nn.ctc_greedy_decoder`` and
``tf.nn.ctc_beam_search_decoder`` expect it. ``normalize`` maps a raw
transcript to the vocabulary (lower case, punctuation and dashes to spaces,
runs of spaces collapsed); a character that is still outside it (a digit, an
accented letter) makes the transcript unusable: ``out_of_vocabulary`` names
them.
"""
import re

import numpy as np

CHARACTERS = " abcdefghijklmnopqrstuvwxyz'"
BLANK = len(CHARACTERS)  # the CTC blank: the last class
NUM_CLASSES = len(CHARACTERS) + 1
_INDEX = {c: i for i, c in enumerate(CHARACTERS)}
_PUNCTUATION = re.compile(r"[\s.,;:!?\"()\[\]\-\u2014\u2013\u2018\u201c\u201d]+")


def normalize(text):
    text = text.lower().replace("\u2019", "'")
    return _PUNCTUATION.sub(" ", text).strip()


def out_of_vocabulary(text):
    """The characters of ``text`` (normalised) outside the vocabulary, sorted."""
    return sorted(set(text) - set(_INDEX))


def encode(text):
    """int32 ids of a normalised transcript; ValueError naming any character outside the vocabulary."""
    bad = out_of_vocabulary(text)
    if bad:
        raise ValueError(f"characters outside the vocabulary {CHARACTERS!r}: {bad!r} in {text!r}")
    return np.array([_INDEX[c] for c in text], np.int32)


def decode(ids):
    """The text of character ids (blanks and ids outside the vocabulary dropped)."""
    return "".join(CHARACTERS[i] for i in np.asarray(ids).ravel() if 0 <= i < BLANK)


def id_table():
    """The characters as a string tensor, for decoding inside a graph (``tf.gather`` then join)."""
    import tensorflow as tf

    return tf.constant(list(CHARACTERS))
