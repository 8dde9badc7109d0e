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
and all-point) and COCO mAP@[.5:.95] on held-out images, and those images
with their ground truth (green) and detections (red) in TensorBoard.

The export ``saved_models/faster_rcnn/<version>/`` takes ``images`` uint8
[N, H, W, 3] of any size and returns the TensorFlow Object Detection API's
outputs: ``detection_boxes`` (normalised ymin, xmin, ymax, xmax),
``detection_scores``, ``detection_classes`` (1-based), ``num_detections``,
and ``detection_class_names``.
"""
import os

from recipes._common import run
from recipes._detection import check, parser, run_detection

NAME = "faster_rcnn"
DEFAULTS = {"tiny": dict(epochs=2, batch=8), "small": dict(epochs=10, batch=8), "paper": dict(epochs=20, batch=2)}


def parse_args(argv=None):
    p, g = parser(NAME, __doc__, DEFAULTS, "Faster R-CNN", steps_per_epoch=250)
    g.add_argument("--backbone", default=None, choices=("vgg", "vgg16", "resnet50", "resnet101"),
                   help="feature extractor (default: the preset's: a VGG-style stack for tiny/small, VGG16 "
                        "(conv5_3) for paper); resnet50/101 use the conv4 stage (stride 16)")
    g.add_argument("--backbone-weights", default=None, metavar="PATH",
                   help="Keras weights of the vgg16/resnet backbone without its top (e.g. "
                        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5); default: random initialisation")
    g.add_argument("--pool", default="max", choices=("max", "align"),
                   help="RoI max pooling to 7x7 (Fast R-CNN) or RoIAlign (bilinear samples, Mask R-CNN)")
    args = check(p, p.parse_args(argv))
    if args.backbone_weights and args.backbone in (None, "vgg") and args.preset != "paper":
        p.error("--backbone-weights needs --backbone vgg16, resnet50 or resnet101 (or --preset paper)")
    if args.backbone_weights and not os.path.isfile(args.backbone_weights):
        p.error(f"--backbone-weights {args.backbone_weights}: no such file")
    return args


def main(argv=None):
    args = parse_args(argv)
    from suite.detection import faster_rcnn

    def make_config(num_classes):
        return faster_rcnn.get_config(args.preset, num_classes=num_classes, backbone=args.backbone,
                                      pool_mode=args.pool, learning_rate=args.learning_rate,
                                      proposal_nms="padded" if args.jit_compile else None)

    return run_detection(args, NAME, DEFAULTS, make_config,
                         lambda config: faster_rcnn.FasterRCNN(config, backbone_weights=args.backbone_weights),
                         {"backbone": make_config(None).backbone, "pool": args.pool})


if __name__ == "__main__":
    run(main)
