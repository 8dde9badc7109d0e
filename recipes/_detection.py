"""What the detection recipes (``recipes.faster_rcnn``, ``recipes.fast_rcnn``, ``recipes.yolo``) declare
the same way: flags, data, evaluation and the export."""
import dataclasses
import time

from suite.training.runner import Recipe, lazy

data = lazy("suite.data.detection")
export = lazy("suite.export")
training = lazy("suite.detection.training")


@dataclasses.dataclass
class HeldOut:
    """The held-out images the mAPs are measured on: uint8 [N, S, S, 3], their ground truths, and for
    Fast R-CNN their proposals [N, P, 4]; for images kept in their aspect, their extents [N, 2]."""

    images: object
    truths: list
    proposals: object = None
    extents: object = None
    paths: tuple = ()  # their files, for sets read from a folder


class DetectionRecipe(Recipe):
    default_data = "shapes"
    data_help = ("'shapes' (the embedded scenes: 1-4 ellipses, rectangles, triangles, crosses and rings of any "
                 "colour, size and aspect on cluttered backgrounds, generated from --seed), 'tfds:voc/2007' or "
                 "'tfds:coco/2017' (prepared in TFDS_DATA_DIR), or a PASCAL VOC folder (Annotations/, "
                 "JPEGImages/, ImageSets/Main/) or a COCO folder (annotations/instances_train2017.json, "
                 "train2017/, ...), or 'tfrecord:DIR' (any of these prepared once by python -m suite.data.prepare "
                 "detection: one file a shard instead of one an image, no annotation parsed at the start, TFDS "
                 "sets read from disk instead of memory)")
    learning_rate_help = ("learning rate (default: the preset's: Adam 1e-3 for tiny/small, SGD with momentum 0.9 "
                          "at 1e-3 for paper)")
    batch_norm = True
    unit = "images"
    evaluation = "the held-out mAPs and the drawn boxes in TensorBoard"
    counts = {"tiny": (20000, 100), "small": (50000, 300), "paper": (50000, 300)}  # embedded: rendered on demand
    counts_help = ("embedded training images", "held-out images the mAPs are measured on (for tfds and folders, at "
                                               "most this many of the validation split)")

    def make_config(self, run, num_classes):
        """The model's config for ``num_classes`` (None: the preset's)."""
        raise TypeError(f"{type(self).__name__} must define make_config(run, num_classes)")

    def configure(self, run):
        return self.make_config(run, None)

    # The data: every annotation parsed (and every image checked to exist) before training
    def load_data(self, run):
        train, held_out, eval_count = self.detection_sets(run)
        return train, HeldOut(*held_out.examples(eval_count), paths=held_out.paths[:eval_count],
                              extents=held_out.extents(eval_count) if held_out.extent else None)

    def detection_sets(self, run):
        """(training set, held-out set, held-out images to evaluate on); the config made for the
        training set's classes."""
        a = run.args
        train_count, eval_count = run.counts
        size = run.config.image_size
        fit = getattr(run.config, "fit", None)  # the two-stage detectors can keep the images' aspect
        train = data.detection_set(a.data, "train", size, seed=a.seed, count=train_count, bad=run.bad,
                                   fit=fit)
        held_out = data.detection_set(a.data, "validation", size, seed=a.seed, count=eval_count, bad=run.bad, fit=fit)
        run.config = self.make_config(run, len(train.class_names))
        return train, held_out, eval_count

    def settings(self, run):
        return {"data": run.args.data, "preset": run.args.preset, "num_classes": run.config.num_classes}

    def dataset(self, run, feed):
        return data.detection_dataset(run.data[0], max_boxes=run.config.max_boxes, **feed)

    # Evaluate: VOC and COCO mAPs on the held-out images, boxes drawn
    def evaluator(self, run):
        h = run.data[1]
        return training.DetectionEvaluator(run.model, h.images, h.truths, run.data[0].class_names,
                                           proposals=h.proposals, extents=h.extents)

    # Serve: images of any size in (Fast R-CNN: with their proposals), the Object Detection API's outputs
    def serving(self, run):
        return (training.serving_endpoints(run.model, run.data[0].class_names,
                                           proposals=run.data[1].proposals is not None),
                list(run.model.networks().values()))

    def warmup(self, run):  # a held-out image
        return export.image_warmup(run.data[1].images[0])

    def finish(self, run, result):
        result.update(model=run.name, classes=list(run.data[0].class_names))
        if run.chief:
            result["detect_images_per_second"] = inference_speed(run.model, run.data[1])


def inference_speed(detector, held_out, repeats=3):
    """Held-out images per second through ``detect`` (batches of 32, after one warm-up pass; Fast
    R-CNN's with their proposals)."""
    h = held_out
    first = {k: None if v is None else v[:32] for k, v in (("proposals", h.proposals), ("extents", h.extents))}
    training.detections_of(detector, h.images[:32], **first)
    started = time.perf_counter()
    for _ in range(repeats):
        training.detections_of(detector, h.images, proposals=h.proposals, extents=h.extents)
    return repeats * len(h.images) / max(time.perf_counter() - started, 1e-9)
