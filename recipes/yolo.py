"""YOLO v1 (Redmon et al. 2016): one network from the image to a grid of boxes and classes.

    python -m recipes.yolo                                 # the embedded shapes scenes
    python -m recipes.yolo --preset paper --data ~/VOCdevkit/VOC2007
    python -m recipes.yolo --data tfds:voc/2007
    tensorboard --logdir logs

Trained with the paper's sum-squared loss (lambda_coord 5, lambda_noobj 0.5,
square roots of width and height), logged by term (loss/coordinates,
loss/object, loss/no_object, loss/class). Each epoch ends with VOC mAP@0.5
(11-point and all-point) and COCO mAP@[.5:.95] on held-out images, and those
images with their ground truth (green) and detections (red) in TensorBoard.

The export ``saved_models/yolo/<version>/`` takes ``images`` uint8 [N, H, W, 3]
of any size and returns the TensorFlow Object Detection API's outputs:
``detection_boxes`` (normalised ymin, xmin, ymax, xmax), ``detection_scores``,
``detection_classes`` (1-based), ``num_detections``, and
``detection_class_names``.
"""
from recipes._common import run
from recipes._detection import check, parser, run_detection

NAME = "yolo"
DEFAULTS = {"tiny": dict(epochs=2, batch=32), "small": dict(epochs=10, batch=32), "paper": dict(epochs=30, batch=64)}


def parse_args(argv=None):
    # YOLO regresses everything from one network from scratch: it needs many more images than
    # Faster R-CNN (tiny: 2 x 750 steps of 32 images against 2 x 250 of 8)
    p, _ = parser(NAME, __doc__, DEFAULTS, "YOLO", steps_per_epoch=750)
    return check(p, p.parse_args(argv))


def main(argv=None):
    args = parse_args(argv)
    from suite.detection import yolo

    def make_config(num_classes):
        return yolo.get_config(args.preset, num_classes=num_classes, learning_rate=args.learning_rate)

    return run_detection(args, NAME, DEFAULTS, make_config, yolo.YOLO, {})


if __name__ == "__main__":
    run(main)
