"""Semantic segmentation: FCN-32s/16s/8s (Long et al. 2015) and DeepLab v1, v2, v3, v3+ (Chen et al.).

    python -m recipes.segmentation                         # DeepLab v3+ on the embedded scenes
    python -m recipes.segmentation --model fcn8s --crf
    python -m recipes.segmentation --model deeplab_v3 --output-stride 16 --eval-output-stride 8
    python -m recipes.segmentation --preset paper --data ~/VOCdevkit/VOC2012 --eval-scales 0.5 0.75 1 1.25 --eval-flip
    tensorboard --logdir logs

Trained with the per-pixel softmax cross-entropy (label 255 ignored) and L2
weight decay, on random crops of randomly scaled (0.5-2.0) and flipped
images. Each epoch ends with the mIoU, per-class IoU and pixel accuracy on
held-out images, those images with their truth and prediction in the VOC
palette, and the confusion matrix (image and table) in TensorBoard; with
``--crf``, also the mIoU after the fully connected CRF, which the export
then applies.

The export ``saved_models/segmentation_<model>/<version>/`` takes ``images``
uint8 [N, H, W, 3] of any size (or ``image_bytes``: JPEG/PNG/GIF/BMP strings,
each of its own size) and returns ``class_map`` uint8 at each image's size,
``probabilities``, ``class_map_png`` (the map in the VOC palette) and
``class_names``.
"""
from suite.training.cli import positive_float, positive_int
from suite.training.runner import Recipe, lazy

data = lazy("suite.data.segmentation")
export = lazy("suite.export")
models = lazy("suite.segmentation.models")
training = lazy("suite.segmentation.training")

MODELS = ("fcn32s", "fcn16s", "fcn8s", "deeplab_v1", "deeplab_v2", "deeplab_v3", "deeplab_v3plus")


class Segmentation(Recipe):
    __doc__ = __doc__
    name = "segmentation"
    default_data = "shapes"
    data_help = ("'shapes' (the embedded scenes: 1-4 ellipses, rectangles, triangles, crosses and rings over "
                 "cluttered backgrounds, each pixel labelled, generated from --seed), a PASCAL VOC 2012 folder "
                 "(ImageSets/Segmentation/, JPEGImages/, SegmentationClass/), a Cityscapes folder (leftImg8bit/, "
                 "gtFine/), or a folder of images/ and masks/ "
                 "(index PNGs, 255 ignored; train/ and val/ beneath it, or a tenth held out)")
    presets = {"tiny": dict(epochs=2, batch=16), "small": dict(epochs=10, batch=16), "paper": dict(epochs=50, batch=16)}
    steps_per_epoch = 300
    learning_rate_help = "learning rate (default: the preset's: Adam 1e-3 for tiny/small, the paper's SGD for paper)"
    batch_norm = True
    unit = "images"
    evaluation = "the held-out mIoU and the drawn predictions in TensorBoard"
    group_title = "segmentation"
    export_by = "model"
    counts = {"tiny": (4000, 100), "small": (20000, 300), "paper": (20000, 300)}
    counts_help = ("embedded training images", "held-out images the mIoU is measured on")

    def add_flags(self, g):
        g.add_argument("--model", choices=MODELS, default="deeplab_v3plus", help="the network (default: deeplab_v3plus)")
        g.add_argument("--backbone", choices=("vgg16", "resnet50", "resnet101", "xception65"), default=None,
                       help="FCN and v1: vgg16; v2 and v3: resnet101 (default) or resnet50; v3+: xception65 "
                            "(default, aligned Xception-65), resnet101 or resnet50 (at the preset's width)")
        g.add_argument("--output-stride", type=int, choices=(8, 16, 32), default=None,
                       help="the backbone's output stride while training (default: the model's: FCN 32, v1 and "
                            "v2 8, v3 and v3+ 16); the last strides become atrous rates")
        g.add_argument("--eval-output-stride", type=int, choices=(8, 16, 32), default=None,
                       help="evaluate and export at another output stride with the same weights (v3: train at 16, "
                            "evaluate at 8; default: the training one)")
        g.add_argument("--eval-scales", type=positive_float, nargs="+", default=None, metavar="S",
                       help="multi-scale inference: average the probabilities at these input scales (default: 1)")
        g.add_argument("--eval-flip", action="store_true", help="also average the left-right mirrored prediction")
        g.add_argument("--crf", action="store_true",
                       help="refine with the fully connected CRF (Kraehenbuehl and Koltun 2011, mean field, in the graph): "
                            "each evaluation also reports the mIoU after it, and the export answers with it")
        g.add_argument("--crf-settings", nargs="+", default=None, metavar="NAME=VALUE",
                       help="the CRF's settings (default: DeepLab's: w_appearance=4 theta_alpha=67 theta_beta=3 "
                            "w_smoothness=3 theta_gamma=1 iterations=10; max_keys=4096: the appearance kernel's keys, "
                            "pixels or blocks of them, exact up to 64x64)")
        g.add_argument("--image-size", type=positive_int, default=None,
                       help="the training crop and the export's input size (default: the preset's: tiny 64, small 128, "
                            "paper the paper's: FCN 512, DeepLab v1 320, v2 321, v3 and v3+ 513)")

    def check_flags(self, p, args):
        if args.model.startswith("fcn") and (args.output_stride or 32) != 32:
            p.error(f"--model {args.model} upsamples from stride 32: --output-stride 32, not {args.output_stride}")
        if args.model.startswith("fcn") and args.eval_output_stride not in (None, 32):
            p.error(f"--eval-output-stride needs a DeepLab model: {args.model} has its skips at fixed strides")
        if args.crf_settings and not args.crf:
            p.error("--crf-settings needs --crf")
        if args.crf:
            from suite.segmentation.crf import CRFParams

            try:
                args.crf = CRFParams.parse(args.crf_settings)
            except ValueError as e:
                p.error(str(e))

    # The model: the network at the preset's size
    def configure(self, run, num_classes=None):
        a = run.args
        return models.get_config(a.preset, a.model, a.backbone, output_stride=a.output_stride,
                                 image_size=a.image_size, learning_rate=a.learning_rate, num_classes=num_classes,
                                 sync_batch_norm=a.sync_batch_norm or None)

    def load_data(self, run):  # every image and mask checked before training
        a, (train_count, eval_count) = run.args, run.counts
        train, held_out = (data.segmentation_set(a.data, split, run.config.image_size, a.seed, count, run.bad)
                           for split, count in (("train", train_count), ("validation", eval_count)))
        run.config = self.configure(run, len(train.class_names))
        return train, held_out.examples(eval_count)

    def build(self, run):
        model = models.Segmenter(run.config, seed=run.args.seed)
        model.compile(total_steps=run.epochs * run.steps)  # the paper presets' poly decay runs to 0 at the end
        return model

    def settings(self, run):
        c = run.config
        return {"data": run.args.data, "preset": run.args.preset, "model": c.model, "backbone": c.backbone,
                "output_stride": c.output_stride, "image_size": c.image_size, "num_classes": c.num_classes}

    def dataset(self, run, feed):
        return data.segmentation_dataset(run.data[0], crop=run.config.image_size, scale=run.config.scale_range, **feed)

    # Evaluate: mIoU on the held-out images, at the evaluation output stride and scales
    def inference(self, run):
        a = run.args
        return dict(output_stride=a.eval_output_stride, scales=tuple(a.eval_scales or (1.0,)), flip=a.eval_flip,
                    crf=a.crf or None)

    def evaluator(self, run):
        return training.SegmentationEvaluator(run.model, run.data[1], run.data[0].class_names, **self.inference(run))

    # Serve: images of any size in, a class map at their size out
    def serving(self, run):
        return (training.serving_endpoints(run.model, run.data[0].class_names, **self.inference(run)),
                [run.model.net])

    def warmup(self, run):  # a held-out image
        return export.image_warmup(run.data[1][0][0])

    def finish(self, run, result):
        result.update(model=run.config.model, backbone=run.config.backbone, classes=list(run.data[0].class_names),
                      parameters=int(run.model.net.count_params()))


recipe = Segmentation()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
