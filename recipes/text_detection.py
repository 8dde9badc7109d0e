"""Scene-text detection: PixelLink (Deng et al. 2018), text found by linking pixels, CTPN (Tian et al.
2016), text lines joined from fine-scale proposals, and RRPN (Ma et al. 2018), rotated proposals.

    python -m recipes.text_detection                          # PixelLink on the embedded multi-oriented scenes
    python -m recipes.text_detection --model ctpn --data scenes-horizontal
    python -m recipes.text_detection --model rrpn
    python -m recipes.text_detection --preset paper --data ~/icdar2015 --image-size 768
    tensorboard --logdir logs

PixelLink classifies every pixel text or not, and links it or not to each of
its 8 neighbours; the pixels joined by links are a word, and its minimum-area
rectangle the detection. CTPN scores 16-pixel-wide proposals of 10 heights
along each row (convolutions, then a bidirectional LSTM across the row) and
joins neighbouring ones into horizontal lines. RRPN proposes rotated boxes
from 54 anchors a position (3 sizes, 3 ratios, 6 angles) and a Fast R-CNN
head classifies and refines them from rotated RoI pooling. All three decode
in the graph. Each epoch ends with the precision, recall and F of the ICDAR
2015 protocol on held-out scenes, and held-out scenes with their truth and
detections drawn in TensorBoard.

The export ``saved_models/text_detection_<model>/<version>/`` takes ``images``
uint8 [N, H, W, 3] (one size, any size) or ``image_bytes`` (JPEG, PNG, GIF or
BMP, each of its own size) and returns ``polygons`` float32 [N, K, 4, 2] in
each image's pixels, ``scores`` [N, K] and ``num_words`` [N].
"""
from suite.training.cli import fraction, multiple_of
from suite.training.runner import Recipe, lazy

data = lazy("suite.data.text_scenes")
export = lazy("suite.export")
pixellink = lazy("suite.ocr.pixellink")
ctpn = lazy("suite.ocr.ctpn")
rrpn = lazy("suite.ocr.rrpn")
detection = lazy("suite.ocr.detection")

MODELS = ("pixellink", "ctpn", "rrpn")


class TextDetection(Recipe):
    __doc__ = __doc__
    name = "text_detection"
    default_data = "scenes"
    data_help = ("'scenes' (the embedded scenes: 1-4 words, digit strings or random strings each, in 44 TrueType "
                 "faces of Debian's fonts-dejavu-core, fonts-liberation and fonts-freefont-ttf, rotated up to 45 "
                 "degrees over cluttered backgrounds with shapes, generated from --seed), 'scenes-horizontal' (the "
                 "same, level), or a folder of images and ICDAR 2013/2015 ground truth (gt_<image name>.txt) in "
                 "train/ and test/ (or val/) or alone (a tenth held out)")
    presets = {"tiny": dict(epochs=2, batch=16), "small": dict(epochs=10, batch=16), "paper": dict(epochs=20, batch=24)}
    steps_per_epoch = 500
    learning_rate_help = ("learning rate (default: the preset's: Adam 1e-3 for tiny/small, the paper's SGD at 1e-2 "
                          "with momentum 0.9 for paper)")
    batch_norm = True
    unit = "images"
    evaluation = "the held-out ICDAR 2015 precision, recall and F"
    group_title = "text detection"
    export_by = "model"
    counts = {"tiny": (20000, 100), "small": (50000, 300), "paper": (50000, 300)}
    counts_help = ("training scenes (embedded; the first of a folder's)", "held-out scenes scored each epoch")

    def add_flags(self, g):
        g.add_argument("--model", choices=MODELS, default="pixellink",
                       help="the detector: pixellink (default; any orientation), ctpn (horizontal lines) or rrpn "
                            "(rotated proposals; any orientation)")
        g.add_argument("--image-size", type=multiple_of(16, 32), default=None,
                       help="the square input the images are resized to, a multiple of 16 (default: the preset's: "
                            "tiny 128, small 256, paper 512 for PixelLink, 608 for CTPN and RRPN)")
        g.add_argument("--stride", type=int, choices=(2, 4), default=None,
                       help="PixelLink's output stride: 4 (VGG16 4s, default) or 2 (2s: conv2_2 fused too)")
        g.add_argument("--proposal-score", type=fraction, default=None,
                       help="CTPN: proposals scoring above this are joined into lines (default 0.7, the paper's)")
        g.add_argument("--pixel-threshold", type=fraction, default=None,
                       help="PixelLink: a pixel is text above this score (default: the preset's; paper 0.8)")
        g.add_argument("--link-threshold", type=fraction, default=None,
                       help="PixelLink: two text pixels are one word when a link between them scores above this "
                            "(default: the preset's; paper 0.8)")

    def check_flags(self, p, args):
        given = [f for f, v in (("--stride", args.stride), ("--pixel-threshold", args.pixel_threshold),
                                ("--link-threshold", args.link_threshold)) if v is not None]
        if args.model != "pixellink" and given:
            p.error(f"{', '.join(given)}: PixelLink's, not {args.model.upper()}'s")
        if args.model != "ctpn" and args.proposal_score is not None:
            p.error(f"--proposal-score: CTPN's, not {'PixelLink' if args.model == 'pixellink' else 'RRPN'}'s")

    # The model: the detector at the preset's size
    def configure(self, run):
        a = run.args
        common = dict(image_size=a.image_size, learning_rate=a.learning_rate, sync_batch_norm=a.sync_batch_norm or None)
        if a.model == "ctpn":
            return ctpn.get_config(a.preset, proposal_score=a.proposal_score, cudnn=False if a.jit_compile else None,
                                   **common)
        if a.model == "rrpn":
            return rrpn.get_config(a.preset, compiled_overlaps=False if a.jit_compile else None, **common)
        return pixellink.get_config(a.preset, stride=a.stride, pixel_threshold=a.pixel_threshold,
                                    link_threshold=a.link_threshold, **common)

    def load_data(self, run):  # every image and ground-truth file checked before training
        a, size = run.args, run.config.image_size
        sets = [data.scene_set(a.data, split, size, a.seed, count, run.bad)
                for split, count in zip(("train", "validation"), run.counts)]
        run.report(*sets)
        return sets[0], sets[1].examples(run.counts[1])

    def build(self, run):
        model = {"ctpn": ctpn.CTPN, "rrpn": rrpn.RRPN, "pixellink": pixellink.PixelLink}[run.args.model](
            run.config, seed=run.args.seed)
        model.compile()
        return model

    def settings(self, run):
        c = run.config
        return {"data": run.args.data, "preset": run.args.preset, "model": run.args.model, "image_size": c.image_size}

    def dataset(self, run, feed):
        return data.scene_dataset(run.data[0], size=run.config.image_size, **feed)

    # Evaluate: the ICDAR 2015 protocol on the held-out scenes
    def evaluator(self, run):
        return detection.DetectionEvaluator(run.model, run.data[1])

    # Serve: images of any size in, word polygons in their pixels out
    def serving(self, run):
        return detection.serving_endpoints(run.model), list(run.model.networks().values())

    def warmup(self, run):  # a held-out scene
        return export.image_warmup(run.data[1][0][0])

    def finish(self, run, result):
        result.update(model=run.args.model, parameters=sum(int(n.count_params()) for n in run.model.networks().values()),
                      skipped_words=len(run.data[0].skipped))


recipe = TextDetection()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
