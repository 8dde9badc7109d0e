"""Optical flow on the embedded motion videos: the in-graph flow against OpenCV's Farneback.

    python -m benchmarks flow [--sizes 32,64] [--videos 48] [--output flow.md]

Renders held-out motion videos with their true flow (the renderer's own
motion: the moving object's pixels move as its pose does, every other pixel
is still; ``render_motion_video(with_flow=True)``) and tabulates, per frame
size, the endpoint error (EPE: pixels between the estimated and the true
displacement) over the whole frame, on the moving object and on the still
pixels, of: no motion at all (the floor to beat on the object), OpenCV's
Farneback with the two-stream recipe's settings (one thread, the way the
input pipeline calls it per clip) and the two-stream network's in-graph
pyramidal Lucas-Kanade (``suite.layers.video.OpticalFlow``, one compiled
call per batch of clips), and each method's flow fields per second with its
ratio to Farneback's (the reference), in one run.
"""
import argparse
import time

import numpy as np

from benchmarks import report

CLIP = 11  # frames: the 10 fields of the two-stream network's clip


def videos(count, size, seed=0):
    """``count`` held-out clips of 11 frames and their true flow: (uint8 [count, 11, size, size, 3],
    float32 [count, 10, size, size, 2])."""
    from suite.data import video

    rendered = video.EmbeddedVideos(count, size, 20, seed, "validation")
    pairs = [video.render_motion_video(rendered.rng(i), int(rendered.labels[i]), size, 20, 4, CLIP, with_flow=True)
             for i in range(count)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def timed(fn, repeats=3):
    fn()  # warm-up (tracing)
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return out, (time.perf_counter() - start) / repeats


def measure(size, count, seed=0):
    """{method: (flow [count, 10, size, size, 2], seconds)} and the true flow."""
    import tensorflow as tf

    from suite.data.video import farneback_flow
    from suite.layers.video import OpticalFlow

    clips, truth = videos(count, size, seed)
    layer = OpticalFlow()
    graph = tf.function(layer.call)
    batch = tf.constant(clips)

    def in_graph():
        stacked = graph(batch).numpy()  # [count, H, W, 2 * 10]: (dx1, dy1, ...)
        return stacked.reshape(count, size, size, CLIP - 1, 2).transpose(0, 3, 1, 2, 4)

    results = {"no motion": (np.zeros_like(truth), 0.0),
               "Farneback (OpenCV)": timed(lambda: np.stack([farneback_flow(c) for c in clips])),
               "in-graph Lucas-Kanade": timed(in_graph)}
    return results, truth


def table(sizes, count, seed=0):
    lines = ["| frame | method | EPE, whole frame | EPE, moving object | EPE, still pixels | fields/s | vs Farneback |",
             "|---|---|---|---|---|---|---|"]
    for size in sizes:
        results, truth = measure(size, count, seed)
        moving = np.linalg.norm(truth, axis=-1) > 0
        fields = truth.shape[0] * truth.shape[1]
        reference = fields / results["Farneback (OpenCV)"][1]
        for name, (flow, seconds) in results.items():
            error = np.linalg.norm(flow - truth, axis=-1)
            speed = f"{fields / seconds:,.0f} | {fields / seconds / reference:.2f}x" if seconds else "- | -"
            lines.append(f"| {size}x{size} | {name} | {error.mean():.3f} | {error[moving].mean():.3f} "
                         f"| {error[~moving].mean():.3f} | {speed} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks flow", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", default="32,64", help="comma-separated frame sizes (the tiny and small presets')")
    p.add_argument("--videos", type=int, default=48, help="held-out clips of 11 frames per size")
    p.add_argument("--seed", type=int, default=0, help="seed of the embedded videos")
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    text = (f"Optical flow, {args.videos} held-out embedded clips of {CLIP} frames per size, seed {args.seed}\n\n"
            + table(sizes, args.videos, args.seed))
    report(text, args.output)
    return text


if __name__ == "__main__":
    main()
