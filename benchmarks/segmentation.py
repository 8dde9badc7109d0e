"""Every segmentation model on the embedded scenes, and DeepLab v3+ against keras-cv's.

    python -m benchmarks segmentation [--steps 1000] [--models fcn8s deeplab_v3] [--output segmentation.md]

Part 1 trains each model (tiny preset, seed 0, the recipe's task, data and
augmentation) for ``--steps`` steps in this process, then measures on the
held-out scenes the mIoU as trained, after the fully connected CRF
(DeepLab's settings, 2x2-pixel blocks as the appearance keys), and with
multi-scale (0.75, 1, 1.25) and mirrored inference; and the training images
per second (after a warm-up). Part 2, like for like: one training step of
DeepLab v3+ on a ResNet-50 of the paper's width against keras-cv's
``DeepLabV3Plus`` on its ResNet-50 v2 backbone, the same input size, batch
and optimizer (Adam), images per second and their ratio in one run; ours at
output stride 32 (keras-cv's backbone has no dilation) and at 16 (the paper's).
"""
import argparse
import sys
import time

from benchmarks import report

MODELS = ("fcn32s", "fcn16s", "fcn8s", "deeplab_v1", "deeplab_v2", "deeplab_v3", "deeplab_v3plus")
BACKBONES = {"deeplab_v2": "resnet50", "deeplab_v3": "resnet50", "deeplab_v3plus": "resnet50"}


def train_and_evaluate(model, args):
    import keras
    import tensorflow as tf

    from suite.data import segmentation as data
    from suite.segmentation.crf import CRFParams
    from suite.segmentation.models import Segmenter, get_config
    from suite.segmentation.training import SegmentationEvaluator

    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    c = get_config("tiny", model, BACKBONES.get(model))
    task = Segmenter(c, seed=args.seed)
    task.compile()
    batches = iter(data.segmentation_dataset(data.embedded_set(4000, c.image_size, args.seed), args.batch,
                                             c.image_size, seed=args.seed, scale=c.scale_range))
    step = tf.function(lambda b: task.train_step(b))
    warmup = min(20, args.steps)
    for _ in range(warmup):
        step(next(batches))
    started = time.perf_counter()
    for _ in range(args.steps - warmup):
        logs = step(next(batches))
    float(logs["loss"])
    rate = (args.steps - warmup) * args.batch / max(time.perf_counter() - started, 1e-9)
    held_out = data.embedded_set(args.eval_images, c.image_size, args.seed, "validation").examples()
    names = data.EMBEDDED_CLASSES
    plain, _ = SegmentationEvaluator(task, held_out, names, crf=CRFParams(max_keys=1024)).evaluate()
    multi, _ = SegmentationEvaluator(task, held_out, names, scales=(0.75, 1.0, 1.25), flip=True).evaluate()
    return {"model": model, "backbone": c.backbone, "mIoU": plain["mIoU"], "crf": plain["crf"]["mIoU"],
            "multi_scale": multi["mIoU"], "images_per_second": rate, "parameters": task.net.count_params()}


def train_rate(net, size, batch, steps, probabilities=False):
    """Training images per second of ``net`` (logits, or softmax ``probabilities``) with Adam and the
    per-pixel cross-entropy on random images and labels, after two warm-up steps."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)
    x = tf.random.stateless_uniform([batch, size, size, 3], [0, 1], maxval=255.0)
    y = tf.random.stateless_uniform([batch, size, size], [0, 2], maxval=6, dtype=tf.int32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, net(x, training=True))
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply(grads, net.trainable_variables)
        return loss

    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        loss = step()
    float(loss)
    return steps * batch / (time.perf_counter() - started)


def resnet50_v2(keras_cv, size):
    """keras-cv's ResNet-50 v2 backbone from its architecture (its preset constructor fetches a config
    from Kaggle, which this machine cannot reach)."""
    return keras_cv.models.ResNetV2Backbone(stackwise_filters=[64, 128, 256, 512], stackwise_blocks=[3, 4, 6, 3],
                                            stackwise_strides=[1, 2, 2, 2], include_rescaling=True,
                                            input_shape=(size, size, 3))


def against_keras_cv(args):
    import keras
    import keras_cv

    from suite.segmentation.models import build_network, get_config

    rates = {}
    for name, build, probs in (
            ("keras-cv DeepLabV3Plus, ResNet-50 v2", lambda: keras_cv.models.DeepLabV3Plus(
                backbone=resnet50_v2(keras_cv, args.size), num_classes=6), True),
            ("suite deeplab_v3plus, ResNet-50, output stride 32", lambda: build_network(get_config(
                "paper", "deeplab_v3plus", "resnet50", num_classes=6, output_stride=32, image_size=args.size)), False),
            ("suite deeplab_v3plus, ResNet-50, output stride 16", lambda: build_network(get_config(
                "paper", "deeplab_v3plus", "resnet50", num_classes=6, output_stride=16, image_size=args.size)), False)):
        keras.backend.clear_session()
        net = build()
        rates[name] = (train_rate(net, args.size, args.keras_cv_batch, args.keras_cv_steps, probs), net.count_params())
        print(f"  {name}: {rates[name][0]:.1f} images/s", file=sys.stderr, flush=True)
    return rates


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks segmentation", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="the models of part 1")
    p.add_argument("--steps", type=int, default=1000, help="training steps per model (part 1)")
    p.add_argument("--batch", type=int, default=16, help="images per step (part 1)")
    p.add_argument("--eval-images", type=int, default=100, help="held-out scenes the mIoUs are measured on")
    p.add_argument("--size", type=int, default=128, help="input side of part 2")
    p.add_argument("--keras-cv-batch", type=int, default=8, help="images per step (part 2)")
    p.add_argument("--keras-cv-steps", type=int, default=10, help="timed steps per network (part 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the tables (markdown) to this file")
    args = p.parse_args(argv)
    rows = []
    for model in args.models:
        print(f"training {model} ...", file=sys.stderr, flush=True)
        rows.append(train_and_evaluate(model, args))
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    lines = [f"Segmentation, tiny preset, embedded scenes, {args.steps:,} x {args.batch} training images, "
             f"{args.eval_images} held-out scenes, seed {args.seed} (all background: mIoU ~0.13)", "",
             "| model | backbone | mIoU | + CRF | multi-scale + flip | train img/s | parameters |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['backbone']} | {r['mIoU']:.3f} | {r['crf']:.3f} | {r['multi_scale']:.3f} | "
              f"{r['images_per_second']:,.0f} | {r['parameters']:,} |" for r in rows]
    if args.keras_cv_steps:
        rates = against_keras_cv(args)
        ref = next(iter(rates.values()))[0]
        lines += ["", f"DeepLab v3+ training step against keras-cv's, {args.size}x{args.size} inputs, batch "
                      f"{args.keras_cv_batch}, Adam, {args.keras_cv_steps} timed steps each, one run", "",
                  "| network | train img/s | vs keras-cv | parameters |", "|---|---|---|---|"]
        lines += [f"| {name} | {rate:,.1f} | {rate / ref:.2f}x | {params:,} |" for name, (rate, params) in rates.items()]
    report("\n".join(lines), args.output)
    return rows


if __name__ == "__main__":
    main()
