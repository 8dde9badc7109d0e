"""The detector families on one dataset: accuracy (mAP) against speed (images per second).

    python -m benchmarks detection [--preset tiny] [--output detection.md]

Trains ``recipes.faster_rcnn``, ``recipes.fast_rcnn`` (on selective search's
proposals, computed as each image is loaded) and ``recipes.yolo`` on the
embedded shapes scenes (seed 0), one after the other in fresh processes,
each for its own number of steps and batch (they train very differently:
the two-stage detectors sample 64-128 RoIs per image and converge in few
images; YOLO's single regression needs many more), and tabulates held-out
VOC mAP@0.5 (11-point and all-point) and COCO mAP@[.5:.95], training and
inference images per second and each one's ratio to Faster R-CNN's (the
reference; Fast R-CNN's inference is given its proposals, selective search's
time is apart), and the parameters. The course's claims: YOLO is much faster
at inference, Faster R-CNN more precise; Faster R-CNN's RPN replaces the
proposals Fast R-CNN takes from outside at no loss.
"""
import argparse
import os
import sys
import tempfile

from benchmarks import report, run_recipe
from suite.detection.proposals import MODES


def run(recipe, steps, batch, args, workdir):
    extra = ["--selective-search", args.selective_search] if recipe == "fast_rcnn" else []
    cmd = ["-m", f"recipes.{recipe}", *extra, "--preset", args.preset, "--data", args.data, "--epochs",
           str(args.epochs), "--steps-per-epoch", str(max(1, steps // args.epochs)), "--batch-size", str(batch), "--seed",
           str(args.seed), "--eval-images", str(args.eval_images), "--no-progress",
           "--logdir", os.path.join(workdir, "logs", recipe), "--export-dir", os.path.join(workdir, "export")]
    return run_recipe(cmd, f"recipes.{recipe}")


def parameters(recipe, preset):
    if recipe == "yolo":
        from suite.detection import yolo

        return yolo.build_yolo(yolo.get_config(preset)).count_params()
    from suite.detection import fast_rcnn, faster_rcnn

    module = fast_rcnn if recipe == "fast_rcnn" else faster_rcnn
    model = (fast_rcnn.FastRCNN if recipe == "fast_rcnn" else faster_rcnn.FasterRCNN)(module.get_config(preset))
    return sum(n.count_params() for n in model.networks().values())


def table(results, preset):
    ref = results.get("faster_rcnn")
    lines = ["| detector | steps x batch | mAP@0.5 VOC07 11-pt | mAP@0.5 all-pt (untrained) | COCO mAP | "
             "train img/s | detect img/s | detect vs Faster R-CNN | parameters |",
             "|---|---|---|---|---|---|---|---|---|"]
    for recipe, (r, steps, batch) in results.items():
        e, i = r["eval"], r["initial"]
        ratio = f"{r['detect_images_per_second'] / ref[0]['detect_images_per_second']:.2f}x" if ref else "-"
        lines.append(f"| {recipe} | {steps:,} x {batch} | {e['mAP50_voc07']:.3f} | {e['mAP50']:.3f} "
                     f"({i['mAP50']:.3f}) | {e['mAP_coco']:.3f} | {r['images_per_second']:,.1f} | "
                     f"{r['detect_images_per_second']:,.1f} | {ratio} | {parameters(recipe, preset):,} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks detection", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="shapes", help="--data of the recipes")
    p.add_argument("--preset", default="tiny", choices=("tiny", "small", "paper"))
    p.add_argument("--faster-rcnn-steps", type=int, default=1000, help="Faster R-CNN training steps")
    p.add_argument("--faster-rcnn-batch", type=int, default=8, help="Faster R-CNN images per step")
    p.add_argument("--fast-rcnn-steps", type=int, default=1000, help="Fast R-CNN training steps")
    p.add_argument("--fast-rcnn-batch", type=int, default=8, help="Fast R-CNN images per step")
    p.add_argument("--selective-search", default="fast", choices=MODES,
                   help="Fast R-CNN's proposals: selective search's mode")
    p.add_argument("--yolo-steps", type=int, default=2000, help="YOLO training steps")
    p.add_argument("--yolo-batch", type=int, default=32, help="YOLO images per step")
    p.add_argument("--epochs", type=int, default=2, help="evaluations (the steps are split over them)")
    p.add_argument("--eval-images", type=int, default=200, help="held-out images the mAPs are measured on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as workdir:
        for recipe, steps, batch in (("faster_rcnn", args.faster_rcnn_steps, args.faster_rcnn_batch),
                                     ("fast_rcnn", args.fast_rcnn_steps, args.fast_rcnn_batch),
                                     ("yolo", args.yolo_steps, args.yolo_batch)):
            print(f"training {recipe} ...", file=sys.stderr, flush=True)
            results[recipe] = (run(recipe, steps, batch, args, workdir), steps, batch)
            print(f"  {recipe}: {results[recipe][0]['eval']}", file=sys.stderr, flush=True)
    text = (f"Object detection, preset={args.preset}, data={args.data}, {args.eval_images} held-out images, "
            f"seed {args.seed}\n\n" + table(results, args.preset))
    report(text, args.output)
    return results


if __name__ == "__main__":
    main()
