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
from recipes._detection import DetectionRecipe
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

    # The model: the paper's grid of boxes and classes, at the preset's size
    def make_config(self, run, num_classes):
        a = run.args
        return yolo.get_config(a.preset, num_classes=num_classes, learning_rate=a.learning_rate,
                               sync_batch_norm=a.sync_batch_norm)

    def build(self, run):
        model = yolo.YOLO(run.config, seed=run.args.seed)
        model.compile()
        return model


recipe = YOLO()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
