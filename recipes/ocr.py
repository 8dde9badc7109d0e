"""Scene-text reading end to end: a text detector's export and a text recognizer's, composed into one
SavedModel that goes from images to words, and measured on held-out scenes.

    python -m recipes.text_detection && python -m recipes.text_recognition
    python -m recipes.ocr                                      # the newest export of each
    python -m recipes.ocr --detector saved_models/text_detection_pixellink/3 --recognizer saved_models/text_recognition/2
    python -m recipes.predict saved_models/ocr/1 street.jpg
    python -m recipes.ocr --train --detector-args "--model rrpn" --recognizer-args "--preset small"

With --train, one command trains both first, as their own recipes would, in
this process one after the other (the detector's logs under LOGDIR/text_detection,
the recognizer's under LOGDIR/text_recognition; both resume from there when the
command is run again), then composes what they exported.

Each detected word is cut out of the image along its quadrilateral and turned
upright in the graph (a projective transform), then read by the recognizer as
it reads any crop. Before the export is written, the composition is measured
on held-out scenes (--data, --eval-images): the detector's precision, recall
and F, and the end-to-end F of the ICDAR 2015 protocol (a detection counts
only with its word read right, case-insensitively), printed as one JSON line
and written to TensorBoard (--logdir) with held-out scenes drawn with the
words read.

The export ``saved_models/ocr/<version>/`` takes ``images`` uint8 [N, H, W, 3]
(one size, any size) or ``image_bytes`` (JPEG, PNG, GIF or BMP, each of its own
size) and returns ``polygons`` float32 [N, K, 4, 2] in each image's pixels,
``scores`` [N, K], ``texts`` string [N, K], ``text_log_probability`` [N, K] and
``num_words`` int32 [N].
"""
import argparse
import json
import os

from suite.training import runner
from suite.training.cli import add_output_flags, positive_int

NAME = "ocr"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.ocr", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detector", default=None, metavar="EXPORT",
                   help="a text detector's export (default: the newest under EXPORT_DIR/text_detection_pixellink)")
    p.add_argument("--recognizer", default=None, metavar="EXPORT",
                   help="a text recognizer's export (default: the newest under EXPORT_DIR/text_recognition)")
    p.add_argument("--data", default="scenes",
                   help="the held-out scenes measured: 'scenes' (the embedded multi-oriented ones, from --seed), "
                        "'scenes-horizontal', or a folder of images and ICDAR gt_<name>.txt files (test/ or val/, "
                        "or every tenth image)")
    p.add_argument("--eval-images", type=positive_int, default=100, help="held-out scenes measured (default 100)")
    p.add_argument("--image-size", type=positive_int, default=128, help="the embedded scenes' size in pixels (default 128)")
    p.add_argument("--seed", type=int, default=0, help="the embedded scenes' seed (default 0)")
    add_output_flags(p, NAME, "TensorBoard log directory: the scores and held-out scenes drawn with the words read "
                              "(default logs/ocr)")
    p.add_argument("--train", action="store_true",
                   help="train a detector (recipes.text_detection) and a recognizer (recipes.text_recognition) "
                        "first, one after the other in this process, and compose their exports")
    p.add_argument("--detector-args", default="", metavar="FLAGS",
                   help="with --train: recipes.text_detection's flags as one quoted string (e.g. '--model rrpn "
                        "--preset small'; one word alone as --detector-args=--jit-compile); its --seed, --export-dir and "
                        "--logdir (LOGDIR/text_detection) are this command's")
    p.add_argument("--recognizer-args", default="", metavar="FLAGS",
                   help="with --train: recipes.text_recognition's flags, likewise (logs in LOGDIR/text_recognition)")
    args = p.parse_args(argv)
    if args.train and (args.detector or args.recognizer):
        p.error("--train trains the detector and the recognizer: give neither --detector nor --recognizer")
    if not args.train and (args.detector_args or args.recognizer_args):
        p.error("--detector-args and --recognizer-args go with --train")
    return args


def training_plan(args):
    """[(recipe, its parsed flags)] of --train, every flag checked before either trains."""
    from recipes import text_detection, text_recognition

    return [(r, runner.nested_args(r, flag, given, "recipes.ocr", seed=args.seed, export_dir=args.export_dir,
                                   logdir=os.path.join(args.logdir, r.name)))
            for r, flag, given in ((text_detection.recipe, "--detector-args", args.detector_args),
                                   (text_recognition.recipe, "--recognizer-args", args.recognizer_args))]


def main(argv=None):
    args = parse_args(argv)
    from suite.data.text_scenes import scene_set
    from suite.export import check_saved_model, newest, resolve_version
    from suite.training.cli import check_output_dir

    trained = {}
    if args.train:
        plan = training_plan(args)
        resolve_version(args.export_dir, NAME, args.version)
        check_output_dir("--logdir", args.logdir)
        for (recipe, recipe_args), role in zip(plan, ("detector", "recognizer")):
            result, _ = runner.run(recipe, recipe_args)
            trained[role] = {k: result[k] for k in ("name", "step", "initial", "eval", "export")}
        args.detector, args.recognizer = trained["detector"]["export"], trained["recognizer"]["export"]
    for flag, name in (("--detector", "text_detection_pixellink"), ("--recognizer", "text_recognition")):
        path = getattr(args, flag[2:]) or newest(args.export_dir, name)
        if path is None:
            raise ValueError(f"{flag}: no export under {os.path.join(args.export_dir, name)}; train one first "
                             f"(python -m recipes.{name.split('_pixellink')[0]}) or give its path")
        check_saved_model(path, flag)
        setattr(args, flag[2:], path)
    resolve_version(args.export_dir, NAME, args.version)  # a taken --version is refused before any work
    check_output_dir("--logdir", args.logdir)
    held_out = scene_set(args.data, "validation", args.image_size, args.seed, args.eval_images).examples(
        args.eval_images)

    from suite.ocr.end_to_end import SceneReader, measure, write_export

    reader = SceneReader(args.detector, args.recognizer)
    scores = measure(reader, held_out, logdir=args.logdir, progress=not args.no_progress)
    path = write_export(reader, NAME, args.export_dir, args.version, held_out[0][0])
    result = {"name": NAME, "export": path, "detector": args.detector, "recognizer": args.recognizer, "data": args.data,
              "eval_images": len(held_out), **scores, **({"trained": trained} if trained else {})}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    runner.exit_on_error(main)
