"""YOLO v1 (Redmon et al. 2016): one network from the image to a grid of boxes and classes.

    python -m recipes.yolo                                 # the embedded shapes scenes
    python -m recipes.yolo --preset paper --data ~/VOCdevkit/VOC2007
    python -m recipes.yolo --data tfds:voc/2007
    tensorboard --logdir logs

Trained with the paper's sum-squared loss (lambda_coord 5, lambda_noobj 0.5,
square roots of width and height), logged by term (loss/coordinates,
loss/object, loss/no_object, loss/class), on the paper's augmentation:
horizontal flips, random scaling and translation of up to 20% of the image
size (boxes moved with the pixels) and exposure and saturation scaled by up
to 1.5x in HSV (--no-augment: flips only, the default on the embedded
scenes). Each epoch ends with VOC mAP@0.5 (11-point and all-point) and COCO
mAP@[.5:.95] on held-out images, each class's AP and precision-recall curve,
and those images with their ground truth (green) and detections (red)
labelled with class and score, in TensorBoard.

The export ``saved_models/yolo/<version>/`` takes ``images`` uint8 [N, H, W, 3]
of any size and returns the TensorFlow Object Detection API's outputs:
``detection_boxes`` (normalised ymin, xmin, ymax, xmax), ``detection_scores``,
``detection_classes`` (1-based), ``num_detections``, and
``detection_class_names``.
"""
import argparse

from recipes._detection import DetectionRecipe, data
from suite.training.runner import lazy

yolo = lazy("suite.detection.yolo")


class YOLO(DetectionRecipe):
    __doc__ = __doc__
    name = "yolo"
    # YOLO regresses everything from one network from scratch: it needs many more images than
    # Faster R-CNN (tiny: 2 x 750 steps of 32 images against 2 x 250 of 4)
    steps_per_epoch = 750
    presets = {"tiny": dict(epochs=2, batch=32), "small": dict(epochs=10, batch=32), "paper": dict(epochs=30, batch=64)}
    group_title = "YOLO"

    def add_flags(self, g):
        super().add_flags(g)
        g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                       help="train with the paper's random scaling and translation (up to 20%% of the image size) "
                            "and exposure and saturation jitter (up to 1.5x in HSV) besides flips, or on flipped "
                            "images only (default: on for a dataset, off for the embedded scenes, where it "
                            "lowered mAP@0.5 after 4,000 tiny steps from 0.77 to 0.66)")

    # The data: the detection pipeline, with the paper's augmentation when the config asks
    def dataset(self, run, feed):
        return data.detection_dataset(run.data[0], max_boxes=run.config.max_boxes,
                                      jitter={} if run.config.augment else None, **feed)

    # The model: the paper's grid of boxes and classes, at the preset's size
    def make_config(self, run, num_classes):
        a = run.args
        # the embedded scenes are rendered anew, never repeated enough for augmentation to pay (measured)
        augment = a.augment if a.augment is not None else a.data != data.EMBEDDED
        return yolo.get_config(a.preset, num_classes=num_classes, learning_rate=a.learning_rate,
                               sync_batch_norm=a.sync_batch_norm, augment=augment)

    def build(self, run):
        model = yolo.YOLO(run.config, seed=run.args.seed)
        model.compile()
        return model


recipe = YOLO()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
