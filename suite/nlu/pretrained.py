"""A pre-trained text model on disk, for ``--init-from``: ``config.json`` (the config dataclass and the
vocabulary's size), ``vocabulary.txt`` and one Keras weights file, in a folder written as a whole.
BERT's encoder (``recipes.bert`` -> ``recipes.mtdnn``) and GPT (``recipes.gpt`` ->
``recipes.gpt_finetune``) are kept this way."""
import dataclasses
import json
import os


def save(directory, config, vocabulary, network, weights):
    """Writes ``config``, ``vocabulary`` and ``network``'s weights (file name ``weights``) into
    ``directory``, replaced as a whole (never half-written); returns ``directory``."""
    from suite.data.files import replace_folder
    from suite.nlu.lexicon import write_vocabulary

    def fill(tmp):
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump({**dataclasses.asdict(config), "vocabulary_size": len(vocabulary)}, f, indent=1)
        write_vocabulary(vocabulary, os.path.join(tmp, "vocabulary.txt"))
        network.save_weights(os.path.join(tmp, weights))

    return replace_folder(directory, fill)


def read(path, config_class, weights, subfolder, what, hint, reserved=None):
    """(config, vocabulary, the weights file's path) of ``save``'s folder at ``path``, or at
    ``path/subfolder`` (a run's log directory); a ValueError naming ``path`` and what is wrong
    (``what``: "a pre-trained encoder"; ``hint``: which folder to give instead; ``reserved``: the tokens
    the vocabulary must hold, WordPiece's by default)."""
    from suite.nlu.lexicon import read_vocabulary

    if os.path.isdir(os.path.join(path, subfolder)) and not os.path.isfile(os.path.join(path, "config.json")):
        path = os.path.join(path, subfolder)
    missing = [f for f in ("config.json", "vocabulary.txt", weights) if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise ValueError(f"--init-from {path}: not {what} (missing {', '.join(missing)}); {hint}")
    try:
        with open(os.path.join(path, "config.json")) as f:
            fields = json.load(f)
        known = {f.name for f in dataclasses.fields(config_class)}
        config = config_class(**{k: v for k, v in fields.items() if k in known})
    except (ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"--init-from {path}: config.json is not the config of {what} ({e})") from None
    vocabulary = read_vocabulary(os.path.join(path, "vocabulary.txt"), *([] if reserved is None else [reserved]))
    if len(vocabulary) != config.vocabulary_size:
        raise ValueError(f"--init-from {path}: vocabulary.txt has {len(vocabulary)} tokens, config.json says "
                         f"{config.vocabulary_size}")
    return config, vocabulary, os.path.join(path, weights)
