"""Scene text on the embedded data: the detectors on level and on rotated words, the recognizer's
decodings, and detection and recognition composed end to end.

    python -m benchmarks ocr [--detector-steps 1000] [--recognizer-steps 1000] [--output ocr.md]

Trains, in this process and with the recipes' tasks and data (tiny presets, seed 0): PixelLink,
CTPN and RRPN, each once on the multi-oriented scenes and once on the horizontal ones, each measured on both
held-out sets (precision, recall and F of the ICDAR 2015 protocol; CTPN's axis-aligned lines cannot
fit rotated words); CRNN on the embedded word crops,
measured by word accuracy and CER with best-path and beam decoding (and lexicon-constrained
decoding on the held-out words of the lexicon); and each detector composed with the recognizer
(each detected word cut out upright and read, as ``recipes.ocr``'s export does), measured by the
end-to-end F on both sets. Speeds: training images (crops) per second after a warm-up, and
inference images per second of detection alone and of the whole reading, batch 16.
"""
import argparse
import sys
import time

from benchmarks import report

SETS = ("scenes", "scenes-horizontal")


def _fit(task, batches, steps, batch):
    import tensorflow as tf

    step = tf.function(lambda b: task.train_step(b))
    warmup = min(20, steps)
    for _ in range(warmup):
        step(next(batches))
    started = time.perf_counter()
    for _ in range(steps - warmup):
        logs = step(next(batches))
    float(logs["loss"])
    return (steps - warmup) * batch / max(time.perf_counter() - started, 1e-9)


def train_detector(model, kind, args):
    import keras

    from suite.data import text_scenes as data
    from suite.ocr import ctpn, pixellink, rrpn

    keras.utils.set_random_seed(args.seed)
    module, cls = {"ctpn": (ctpn, ctpn.CTPN), "rrpn": (rrpn, rrpn.RRPN), "pixellink": (pixellink, pixellink.PixelLink)}[model]
    c = module.get_config("tiny")
    task = cls(c, seed=args.seed)
    task.compile()
    scenes = data.scene_set(kind, "train", c.image_size, args.seed, 20000)
    rate = _fit(task, iter(data.scene_dataset(scenes, args.batch, c.image_size, seed=args.seed)),
                args.detector_steps, args.batch)
    return task, rate


def train_recognizer(args):
    import keras

    from suite.data import ocr as data
    from suite.ocr.charset import Charset
    from suite.ocr.crnn import get_config
    from suite.ocr.recognition import Recognizer

    keras.utils.set_random_seed(args.seed)
    c = get_config("tiny")
    task = Recognizer(c, seed=args.seed)
    task.compile()
    words = data.word_set(data.EMBEDDED, "train", Charset(c.charset), c.max_label_length, args.seed, 100000)
    batches = iter(data.word_dataset(words, args.batch, Charset(c.charset), c.height, c.width, c.max_label_length,
                                     seed=args.seed))
    return task, _fit(task, batches, args.recognizer_steps, args.batch)


def read_scenes(detector, recognizer, images, batch=16):
    """Each scene's [(polygon, word)], through the detector and the recognizer as the export composes
    them (a word cut out upright, fitted as the recognizer fits any crop, best-path decoding)."""
    import tensorflow as tf

    from suite.data.ocr import fit_crop
    from suite.ocr.detection import detect_words
    from suite.ocr.end_to_end import MARGIN, crop_word

    c = recognizer.config
    detect = tf.function(lambda x: detect_words(detector, x))
    read = recognizer.reader()
    out = []
    for s in range(0, len(images), batch):
        polygons, _, counts = detect(tf.constant(images[s:s + batch]))
        for image, ps, n in zip(images[s:s + batch], polygons.numpy(), counts.numpy()):
            crops = [fit_crop(crop_word(tf.constant(image), tf.constant(p), MARGIN), c.height, c.width) for p in ps[:n]]
            words = [w.decode() for w in read(tf.stack(crops))[0].numpy()] if crops else []
            out.append(list(zip(ps[:n], words)))
    return out


def measure(detectors, recognizer, args):
    import numpy as np
    import tensorflow as tf

    from suite.data import ocr as word_data
    from suite.data import text_scenes as data
    from suite.ocr.detection import DetectionEvaluator, detect_words
    from suite.ocr.metrics import Word, evaluate
    from suite.ocr.recognition import evaluate as read_words, prepare

    rows = []
    held = {kind: data.scene_set(kind, "validation", 128, args.seed, args.eval_images).examples() for kind in SETS}
    for trained_on, (task, rate) in detectors.items():
        for kind, scenes in held.items():
            scores, _ = DetectionEvaluator(task, scenes).evaluate()
            truth = [[Word(q, t) for q, t in zip(quads, texts)] for _, quads, texts in scenes]
            images = np.stack([s[0] for s in scenes])
            started = time.perf_counter()
            found = read_scenes(task, recognizer, images)
            e2e_rate = len(images) / (time.perf_counter() - started)
            e2e = evaluate(truth, [[Word(p, w) for p, w in f] for f in found], end_to_end=True)
            detect = tf.function(lambda x: detect_words(task, x))
            detect(tf.constant(images[:args.batch]))
            started = time.perf_counter()
            for s in range(0, len(images), args.batch):
                detect(tf.constant(images[s:s + args.batch]))[2].numpy()
            rows.append({"trained_on": trained_on, "tested_on": kind, **scores, "end_to_end": e2e["f"],
                         "train_rate": rate, "detect_rate": len(images) / (time.perf_counter() - started),
                         "e2e_rate": e2e_rate})
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    crops, texts = prepare(word_data.embedded_words(args.eval_words, args.seed, "validation").examples(),
                           recognizer.config)
    recognition = {"best path": read_words(recognizer, crops, texts)[0],
                   f"beam {args.beam_width}": read_words(recognizer, crops, texts, beam_width=args.beam_width)[0]}
    lexicon = sorted(set(word_data.lexicon()))
    known = [i for i, t in enumerate(texts) if t.lower() in set(lexicon)]
    recognition["lexicon"] = read_words(recognizer, crops[known], [texts[i] for i in known], lexicon=lexicon)[0]
    return rows, recognition


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks ocr", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--detectors", nargs="+", default=["pixellink", "ctpn", "rrpn"],
                   choices=("pixellink", "ctpn", "rrpn"),
                   help="the detectors trained")
    p.add_argument("--detector-steps", type=int, default=1000, help="each detector's training steps on each set")
    p.add_argument("--recognizer-steps", type=int, default=1000, help="CRNN's training steps")
    p.add_argument("--batch", type=int, default=16, help="images (crops) per step")
    p.add_argument("--eval-images", type=int, default=100, help="held-out scenes of each set")
    p.add_argument("--eval-words", type=int, default=200, help="held-out word crops")
    p.add_argument("--beam-width", type=int, default=8, help="the beam search's width")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the tables (markdown) to this file")
    args = p.parse_args(argv)
    detectors = {}
    for model in args.detectors:
        for kind in SETS:
            print(f"training {model} on {kind} ...", file=sys.stderr, flush=True)
            detectors[f"{model} | {kind}"] = train_detector(model, kind, args)
    print("training CRNN ...", file=sys.stderr, flush=True)
    recognizer, word_rate = train_recognizer(args)
    rows, recognition = measure(detectors, recognizer, args)
    lines = [f"Scene text, tiny presets, seed {args.seed}: detectors {args.detector_steps:,} x {args.batch} scenes, "
             f"CRNN {args.recognizer_steps:,} x {args.batch} crops; {args.eval_images} held-out scenes per set", "",
             "| detector | trained on | tested on | precision | recall | F | end-to-end F | train img/s | "
             "detect img/s | read img/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['trained_on']} | {r['tested_on']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f']:.3f} | "
              f"{r['end_to_end']:.3f} | {r['train_rate']:,.0f} | {r['detect_rate']:,.0f} | {r['e2e_rate']:,.1f} |"
              for r in rows]
    lines += ["", f"CRNN on {args.eval_words} held-out embedded crops (training: {word_rate:,.0f} crops/s)", "",
              "| decoding | word accuracy | CER |", "|---|---|---|"]
    lines += [f"| {name} | {s['word_accuracy']:.3f} | {s['cer']:.3f} |" for name, s in recognition.items()]
    report("\n".join(lines), args.output)
    return rows, recognition


if __name__ == "__main__":
    main()
