"""Faster R-CNN (Ren et al. 2015): region proposals, RoI pooling and per-class boxes, end to end.

    python -m recipes.faster_rcnn                          # the embedded shapes scenes
    python -m recipes.faster_rcnn --preset paper --data ~/VOCdevkit/VOC2007 \\
        --backbone-weights vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
    python -m recipes.faster_rcnn --data tfds:voc/2007 --pool align
    tensorboard --logdir logs

Each training step runs the RPN (256 anchors per image, half positive) and
the head (128 RoIs per image, a quarter foreground; tiny: 64) and sums their
four losses (logged apart: loss/rpn_objectness, loss/rpn_box,
loss/head_class, loss/head_box). Each epoch ends with VOC mAP@0.5 (11-point
and all-point) and COCO mAP@[.5:.95] on held-out images, each class's AP and
precision-recall curve, and those images with their ground truth (green) and
detections (red) labelled with class and score, in TensorBoard.

The export ``saved_models/faster_rcnn/<version>/`` takes ``images`` uint8
[N, H, W, 3] of any size and returns the TensorFlow Object Detection API's
outputs: ``detection_boxes`` (normalised ymin, xmin, ymax, xmax),
``detection_scores``, ``detection_classes`` (1-based), ``num_detections``,
and ``detection_class_names``.
"""
import os

from recipes._detection import DetectionRecipe
from suite.training.cli import non_negative_int, positive_int
from suite.training.runner import lazy

faster_rcnn = lazy("suite.detection.faster_rcnn")


class FasterRCNN(DetectionRecipe):
    __doc__ = __doc__
    name = "faster_rcnn"
    steps_per_epoch = 250
    # tiny: batch 4 (measured on the embedded scenes: mAP@0.5 0.72 after 500 steps at half the time of
    # batch 8's 0.84)
    presets = {"tiny": dict(epochs=2, batch=4), "small": dict(epochs=10, batch=8), "paper": dict(epochs=20, batch=2)}
    group_title = "Faster R-CNN"

    def add_flags(self, g):
        super().add_flags(g)
        g.add_argument("--backbone", default=None, choices=("vgg", "vgg16", "resnet50", "resnet101"),
                       help="feature extractor (default: the preset's: a VGG-style stack for tiny/small, VGG16 "
                            "(conv5_3) for paper); resnet50/101 use the conv4 stage (stride 16)")
        g.add_argument("--backbone-weights", default=None, metavar="PATH",
                       help="Keras weights of the vgg16/resnet backbone without its top (e.g. "
                            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5); default: random initialisation")
        g.add_argument("--pool", default="max", choices=("max", "align"),
                       help="RoI max pooling to 7x7 (Fast R-CNN) or RoIAlign (bilinear samples, Mask R-CNN)")
        g.add_argument("--min-side", type=non_negative_int, default=None, metavar="PIXELS",
                       help="keep each image's aspect: its shorter side resized to this, the longer at most "
                            "--max-side, padded to the preset's square (default: the preset's: paper 600; tiny and "
                            "small stretch to the square, 0)")
        g.add_argument("--max-side", type=positive_int, default=None, metavar="PIXELS",
                       help="the longer side's cap with --min-side (default: paper 1000; else the square's side)")

    def check_flags(self, p, args):
        super().check_flags(p, args)
        if args.backbone_weights and args.backbone in (None, "vgg") and args.preset != "paper":
            p.error("--backbone-weights needs --backbone vgg16, resnet50 or resnet101 (or --preset paper)")
        if args.backbone_weights and not os.path.isfile(args.backbone_weights):
            p.error(f"--backbone-weights {args.backbone_weights}: no such file")

    # The model: backbone, RPN and Fast R-CNN head at the preset's size; under XLA the proposal
    # NMS is the padded one XLA compiles
    def make_config(self, run, num_classes):
        return self.two_stage_config(run, num_classes, faster_rcnn,
                                     proposal_nms="padded" if run.args.jit_compile else None)

    def two_stage_config(self, run, num_classes, module, **extra):
        """``module``'s config (Faster or Fast R-CNN's) from the preset and the flags they share."""
        a = run.args
        preset = module.get_config(a.preset)
        sides = dict(min_side=a.min_side, max_side=a.max_side or ((preset.max_side or preset.image_size) if a.min_side
                                                                  else None))
        try:
            return module.get_config(a.preset, num_classes=num_classes, backbone=a.backbone, pool_mode=a.pool,
                                     learning_rate=a.learning_rate, sync_batch_norm=a.sync_batch_norm, **sides, **extra)
        except ValueError as e:  # the sides against the square
            raise ValueError(f"--min-side/--max-side: {e}") from None

    def build(self, run):
        model = faster_rcnn.FasterRCNN(run.config, backbone_weights=run.args.backbone_weights, seed=run.args.seed)
        model.compile()
        return model

    def settings(self, run):
        return {**super().settings(run), "backbone": run.config.backbone, "pool": run.args.pool}


recipe = FasterRCNN()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
