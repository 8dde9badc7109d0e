"""Fast R-CNN (Girshick 2015): the detection network trained on region proposals given from outside.

    python -m recipes.fast_rcnn                            # the embedded scenes, selective search on the fly
    python -m suite.detection.proposals --data ~/VOCdevkit/VOC2007 --out ~/VOC2007-proposals
    python -m recipes.fast_rcnn --preset paper --data ~/VOCdevkit/VOC2007 --proposals ~/VOC2007-proposals

The proposals: ``--proposals PATH`` (a folder of ``<image stem>.npy`` files or
a JSON file in each image's pixels: ``suite.detection.proposals``), every
image's entry checked before training; or OpenCV's selective search on each
image as it is loaded. Each step samples the preset's RoIs per image (a quarter
foreground at IoU >= 0.5, background at [0.1, 0.5)) and sums loss/head_class and
loss/head_box; each epoch ends as recipes.faster_rcnn's. The export
``saved_models/fast_rcnn/<version>/`` takes ``images`` uint8 [N, H, W, 3] and
``proposals`` [N, P, 4] (normalised ymin, xmin, ymax, xmax), or (``image_bytes``)
encoded images and ``proposals_pixels`` (x1, y1, x2, y2); rows without area
are padding; it answers as Faster R-CNN's export.
"""
import numpy as np

from recipes.faster_rcnn import FasterRCNN
from suite.training.cli import positive_int
from suite.training.runner import lazy

data = lazy("suite.data.detection")
fast_rcnn = lazy("suite.detection.fast_rcnn")
proposals = lazy("suite.detection.proposals")
training = lazy("suite.detection.training")


class FastRCNN(FasterRCNN):
    __doc__ = __doc__
    name = "fast_rcnn"  # the steps, epochs and batches of Faster R-CNN's presets
    group_title = "Fast R-CNN"

    def add_flags(self, g):
        super().add_flags(g)
        g.add_argument("--proposals", default=None, metavar="PATH",
                       help="proposals of every image: a folder of <image stem>.npy files or a JSON file {image name: "
                            "[[x1, y1, x2, y2], ...]} in each image's pixels (python -m suite.detection.proposals "
                            "writes the folder; VOC or COCO --data only); default: selective search as images load")
        g.add_argument("--selective-search", default="fast", choices=proposals.MODES,
                       help="selective search's mode without --proposals: fast (default; ~40 ms a 96-pixel "
                            "image), quality (the paper's), or single (one strategy, ~5 ms)")
        g.add_argument("--max-proposals", type=positive_int, default=None,
                       help="proposals kept per image, the first (default: tiny 128, small 512, paper 2000)")

    def check_flags(self, p, args):
        super().check_flags(p, args)
        if args.proposals and (args.data == data.EMBEDDED or args.data.startswith("tfds:")):
            p.error(f"--proposals reads files named after the images: it needs a VOC or COCO folder as --data, "
                    f"not {args.data!r} (its proposals come from selective search)")

    def make_config(self, run, num_classes):
        return self.two_stage_config(run, num_classes, fast_rcnn, max_proposals=run.args.max_proposals)

    def build(self, run):
        model = fast_rcnn.FastRCNN(run.config, backbone_weights=run.args.backbone_weights, seed=run.args.seed)
        model.compile()
        return model

    # The data: the detection sets, with each image's proposals (files checked now)
    def load_data(self, run):
        train, held = super().load_data(run)
        if run.args.proposals:
            sources = [proposals.ProposalFiles(run.args.proposals, paths) for paths in (train.paths, held.paths)]
        else:
            sources = [proposals.SelectiveSearch(run.args.selective_search)] * 2
        run.proposals = sources[0]
        extents = np.ones((len(held.images), 2), np.float32) if held.extents is None else held.extents
        held.proposals = np.stack([data.square_proposals(sources[1], i, image, e, run.config.max_proposals)
                                   for i, (image, e) in enumerate(zip(held.images, extents))])
        return train, held

    def settings(self, run):
        return {**super().settings(run), "proposals": run.args.proposals or f"selective search "
                                                                            f"({run.args.selective_search})"}

    def dataset(self, run, feed):
        return data.detection_dataset(run.data[0], max_boxes=run.config.max_boxes, proposals=run.proposals,
                                      max_proposals=run.config.max_proposals, **feed)

    def warmup(self, run):  # a held-out image and its proposals, as pixels and as PNG bytes
        import tensorflow as tf

        h = run.data[1]
        return {"serving_default": [h.images[:1], h.proposals[:1]],
                "image_bytes": [[tf.io.encode_png(h.images[0]).numpy()], h.proposals[:1, :, [1, 0, 3, 2]] * h.images.shape[1]]}


recipe = FastRCNN()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
