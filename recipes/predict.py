"""Sends your own files to any export through its signatures alone, as a TensorFlow Serving client
would (the suite's model code is never imported), and prints what comes back as JSON lines.

    python -m recipes.predict saved_models/faster_rcnn/1 street.jpg --output drawn/
    python -m recipes.predict saved_models/deepspeech_ds2/1 hello.wav
    python -m recipes.predict saved_models/mtdnn/1 "the food was good"                  (its first task)
    python -m recipes.predict saved_models/mtdnn/1 --signature nli "a man sleeps" "a person rests"
    python -m recipes.predict saved_models/mtdnn/1 --signature qnli question="who ran" candidate="the man ran"
    python -m recipes.predict saved_models/action_slow/1 clip.avi
    python -m recipes.predict saved_models/rmdl_image/1 cat.jpg dog.png
    python -m recipes.predict saved_models/segmentation_deeplab_v3plus/1 street.jpg --output maps/
    python -m recipes.predict saved_models/rmdl_points/1 chair.off table.ply
    python -m recipes.predict saved_models/text_recognition/1 word_1.png word_2.jpg
    python -m recipes.predict saved_models/word2vec_skipgram/1 --signature neighbours king queen
    python -m recipes.predict saved_models/gpt/1 "alice gave bob" --signature top_p --max-new-tokens 30
    python -m recipes.predict saved_models/text_detection_pixellink/1 street.jpg --output drawn/
    python -m recipes.predict saved_models/ocr/1 street.jpg
    python -m recipes.predict saved_models/pggan/1 --num-images 16 --output grid.png
    python -m recipes.predict saved_models/dcgan/1 --latents z.npy --output z.png
    python -m recipes.predict saved_models/deepspeech_ds2/1 hello.wav --rest > request.json
    curl -d @request.json localhost:8501/v1/models/deepspeech_ds2:predict

What each kind of export takes and gives:

* images (JPEG, PNG, GIF, BMP) to a detector's ``image_bytes`` signature: each image's detections
  above --min-score (label, score, box in its own pixels: x1, y1, x2, y2), and with --output the
  image with its boxes drawn, as OUTPUT/NAME.boxes.png; to a segmenter's: each class's share of
  the image's pixels, and with --output the class map in the VOC palette, as OUTPUT/NAME.classes.png;
  to a classifier's (RMDL): each image's label, probabilities and the members' votes; to a text
  recognizer's: the word read in each crop and its log-probability; to a text detector's: each
  word's polygon (x, y corners in the image's own pixels, clockwise from its top left) and score
  (and to the end-to-end ``ocr`` export, the word read), and with --output the image with them
  drawn, as OUTPUT/NAME.words.png;
* point clouds (.xyz/.txt: x y z [r g b] per line, .ply, .off meshes sampled to points) to an RMDL
  points export: each cloud's label, probabilities and the members' votes;
* WAV files (any rate, 8- to 32-bit or float, mono or not) to ``transcribe_wav``: the transcript;
* text to a text signature (each MT-DNN task has one): a one-input signature takes each INPUT as a
  text; a two-input one takes the INPUTs two at a time in the order its inputs are listed here
  (sentence1 sentence2; question candidate), or each as NAME=TEXT; the label and its probabilities,
  or the score;
* sentences to ELMo's export: each token and its contextual vector (the mean of the layers);
* prompts to a language model's generating signatures (GPT): each prompt's completion, greedy
  (``serving_default``) or sampled (``top_k`` with --k, ``top_p`` with --p; --temperature), of at most
  --max-new-tokens tokens;
* video files (decoded here with OpenCV, every frame) to an action export: the label and the
  probabilities of the video (the export averages evenly spaced clips);
* a GAN export: --num-images samples of its ``generate`` signature from --seed (the same seed, the
  same images), or the samples of the latents of a .npy file [N, latent_dim] (--latents, through
  ``serving_default``), as a grid PNG (--output, default samples.png).

--rest prints the request body TensorFlow Serving's REST API takes for the same inputs instead
(``{"signature_name": ..., "instances": [...]}``, bytes as ``{"b64": ...}``; the GAN's scalar
count and seed as ``"inputs"``), without calling the model.
"""
import argparse
import base64
import functools
import json
import os

from suite.training.cli import positive_int
from suite.training.runner import exit_on_error

IMAGE = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
AUDIO = (".wav", ".wave")
VIDEO = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")
POINTS = (".xyz", ".txt", ".ply", ".off")
OFF_POINTS = 2048  # points sampled from an .off mesh's faces (the export resamples to what its model reads)
# the order a two-input text signature takes its INPUTs in (a SignatureDef's inputs are a map: no order)
TEXT_ORDER = ("sentence", "sentence1", "sentence2", "question", "candidate", "text", "text_a", "text_b")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.predict", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export", help="an exported model: saved_models/NAME/VERSION (a folder holding saved_model.pb)")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image, WAV or video files, or texts (NAME=TEXT for a named input); none for a GAN")
    p.add_argument("--signature", default=None,
                   help="the signature to call (default: image_bytes for images, transcribe_wav for WAVs, generate "
                        "for a GAN, else serving_default)")
    p.add_argument("--output", default=None,
                   help="detectors: a folder for the images with their boxes drawn; GANs: the grid PNG (default "
                        "samples.png)")
    p.add_argument("--min-score", type=float, default=0.3, help="detectors: the lowest score printed and drawn")
    p.add_argument("--num-images", type=positive_int, default=16, help="GANs: how many samples to draw")
    p.add_argument("--seed", type=int, default=0, help="GANs: the seed of the samples (the same seed, the same images)")
    p.add_argument("--latents", default=None, metavar="NPY",
                   help="GANs: a .npy file of latents [N, latent_dim] (float) to draw instead of --num-images")
    p.add_argument("--columns", type=positive_int, default=8, help="GANs: images per row of the grid")
    p.add_argument("--cell", type=positive_int, default=64, help="GANs: upscale each sample to about this many pixels (nearest)")
    p.add_argument("--max-new-tokens", type=positive_int, default=20, help="language models: the most tokens generated")
    p.add_argument("--k", type=positive_int, default=5, help="language models' top_k: sample among the k likeliest tokens")
    p.add_argument("--p", type=float, default=0.9,
                   help="language models' top_p: sample among the likeliest tokens holding this probability")
    p.add_argument("--temperature", type=float, default=1.0, help="language models' sampling temperature")
    p.add_argument("--rest", action="store_true",
                   help="print TensorFlow Serving's REST request body for these inputs instead of calling the model")
    args = p.parse_intermixed_args(argv)  # flags before, between or after the INPUTs
    if not 0.0 < args.p <= 1.0:
        p.error(f"--p must be in (0, 1], got {args.p}")
    if not args.temperature > 0:
        p.error(f"--temperature must be above 0, got {args.temperature}")
    if not 0.0 <= args.min_score <= 1.0:
        p.error(f"--min-score must be in [0, 1], got {args.min_score}")
    return args


@functools.lru_cache(maxsize=4)
def load(path):
    """The loaded SavedModel at ``path`` (ValueError naming it if there is none); kept for the next
    call of ``main`` on the same export in this process."""
    import tensorflow as tf

    from suite.export import check_saved_model

    check_saved_model(path)
    return tf.saved_model.load(path)


def input_specs(signature):
    """{input name: TensorSpec} of a signature."""
    return dict(signature.structured_input_signature[1])


def choose(model, args):
    """(signature name, kind) for the inputs given: kind is images, wav, video, gan or text."""
    names = list(model.signatures.keys())
    suffixes = {os.path.splitext(i)[1].lower() for i in args.inputs if "=" not in i or os.path.exists(i)}
    if args.signature is None:
        if "generate" in names and not args.inputs:
            args.signature = "serving_default" if args.latents else "generate"
        elif suffixes and suffixes <= set(IMAGE) and "image_bytes" in names:
            args.signature = "image_bytes"
        elif suffixes and suffixes <= set(AUDIO) and "transcribe_wav" in names:
            args.signature = "transcribe_wav"
        else:
            args.signature = "serving_default"
    if args.signature not in names:
        raise ValueError(f"{args.export}: no signature {args.signature!r}; it has {', '.join(sorted(names))}")
    specs = input_specs(model.signatures[args.signature])
    if set(specs) == {"count", "seed"}:
        kind = "gan"
    elif set(specs) == {"latents"}:
        kind = "latents"
    elif set(specs) == {"image_bytes"}:
        kind = "images"
    elif set(specs) == {"wav"}:
        kind = "wav"
    elif set(specs) == {"points"}:
        kind = "points"
    elif "frames" in specs:
        kind = "video"
    elif "prompts" in specs and "max_new_tokens" in specs:
        kind = "prompts"
    elif all(s.dtype.name == "string" for s in specs.values()):
        kind = "text"
    else:
        wanted = ", ".join(f"{n} {s.dtype.name} {s.shape}" for n, s in sorted(specs.items()))
        raise ValueError(f"{args.export}: signature {args.signature!r} takes {wanted}: not a kind this command "
                         "can build from files (images, WAVs, videos, texts, point clouds, a GAN's count and seed)")
    if args.latents and kind != "latents":
        raise ValueError(f"--latents: signature {args.signature!r} of {args.export} takes no latents")
    if kind == "latents" and not args.latents:
        raise ValueError(f"signature {args.signature!r} takes latents: give --latents FILE.npy (or call generate)")
    if kind not in ("gan", "latents") and not args.inputs:
        raise ValueError(f"signature {args.signature!r} needs INPUTs ({kind})")
    return args.signature, kind, specs


def read_file(path, kinds, what):
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    if os.path.splitext(path)[1].lower() not in kinds:
        raise ValueError(f"{path}: not {what} (expected {', '.join(kinds)})")
    with open(path, "rb") as fh:
        return fh.read()


def read_video(path):
    """Every frame of a video file as RGB uint8 [F, H, W, 3] (OpenCV on the client)."""
    import cv2
    import numpy as np

    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    if not frames:
        raise ValueError(f"{path}: no video frames could be decoded")
    return np.stack(frames)


def read_point_clouds(paths):
    """float32 [N, P, 6] of point files (``suite.data.classification``'s readers: data, not model
    code); clouds of different sizes are resampled to the largest (the export resamples anyway)."""
    import numpy as np

    from suite.data.classification import read_off, read_ply, read_xyz, resample_points

    clouds = []
    for path in paths:
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in POINTS:
            raise ValueError(f"{path}: not a point file ({', '.join(POINTS)})")
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such file")
        clouds.append(read_off(path, OFF_POINTS) if suffix == ".off" else
                      read_ply(path) if suffix == ".ply" else read_xyz(path))
    most = max(len(c) for c in clouds)
    return np.stack([c if len(c) == most else resample_points(c, most) for c in clouds]).astype(np.float32)


def read_latents(path, latent_dim):
    """Latents [N, latent_dim] float32 from a .npy file (ValueError naming it and what is wrong)."""
    import numpy as np

    try:
        latents = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"--latents {path}: not a readable .npy array ({e})") from e
    if latents.ndim != 2 or latents.shape[1] != latent_dim:
        raise ValueError(f"--latents {path}: shape {tuple(latents.shape)}, but the generator takes latents of "
                         f"shape [N, {latent_dim}]")
    if not np.issubdtype(latents.dtype, np.floating) or not np.all(np.isfinite(latents)):
        raise ValueError(f"--latents {path}: needs finite floating-point values, got dtype {latents.dtype}")
    return latents.astype(np.float32)


def text_batches(inputs, specs):
    """{input name: [texts]} from positional INPUTs (taken len(specs) at a time) or NAME=TEXT ones."""
    order = sorted(specs, key=lambda n: (TEXT_ORDER.index(n) if n in TEXT_ORDER else len(TEXT_ORDER), n))
    named = [i for i in inputs if "=" in i and i.split("=", 1)[0] in specs]
    if named:
        if len(named) != len(inputs):
            raise ValueError(f"give every INPUT as NAME=TEXT or none (names: {', '.join(order)})")
        columns = {n: [i.split("=", 1)[1] for i in inputs if i.split("=", 1)[0] == n] for n in order}
        if len({len(c) for c in columns.values()}) != 1:
            counts = ", ".join(f"{n} {len(c)}" for n, c in columns.items())
            raise ValueError(f"every input needs as many texts: {counts}")
        return columns
    if len(inputs) % len(order):
        raise ValueError(f"this signature takes {len(order)} texts per example ({' '.join(order)}): got "
                         f"{len(inputs)} INPUTs")
    return {n: inputs[k::len(order)] for k, n in enumerate(order)}


def request(kind, specs, args):
    """The signature's inputs as NumPy arrays (``feeds``) and the name of each example."""
    import numpy as np

    if kind == "gan":
        return {"count": np.int32(args.num_images), "seed": np.int64(args.seed)}, None
    if kind == "latents":
        return {"latents": read_latents(args.latents, int(specs["latents"].shape[-1]))}, None
    if kind == "images":
        return {"image_bytes": np.array([read_file(i, IMAGE, "an image") for i in args.inputs], object)}, args.inputs
    if kind == "wav":
        return {"wav": np.array([read_file(i, AUDIO, "a WAV file") for i in args.inputs], object)}, args.inputs
    if kind == "points":
        return {"points": read_point_clouds(args.inputs)}, args.inputs
    if kind == "video":
        if "flow" in specs:
            raise ValueError(f"{args.export}: this two-stream export also takes the clip's optical flow, which a "
                             "file alone does not give; the single-stream action exports take videos")
        if len(args.inputs) != 1:
            raise ValueError("give one video per call: a batch holds videos of one size and length")
        return {"frames": read_video(args.inputs[0])[np.newaxis]}, args.inputs
    if kind == "prompts":
        settings = {"max_new_tokens": np.int32(args.max_new_tokens), "k": np.int32(args.k), "p": np.float32(args.p),
                    "temperature": np.float32(args.temperature)}
        return {"prompts": np.array(args.inputs, object), **{n: v for n, v in settings.items() if n in specs}}, \
            args.inputs
    columns = text_batches(args.inputs, specs)
    first = next(iter(columns.values()))
    return {n: np.array(c, object) for n, c in columns.items()}, [
        " | ".join(columns[n][k] for n in columns) for k in range(len(first))]


def rest_body(signature, feeds):
    """TensorFlow Serving's REST predict body: row format, or columnar for unbatched (scalar) inputs."""
    import numpy as np

    def value(x):
        if isinstance(x, bytes):
            return {"b64": base64.b64encode(x).decode("ascii")}
        if isinstance(x, np.ndarray):
            return [value(v) for v in x] if x.dtype == object else x.tolist()
        return x.item() if isinstance(x, np.generic) else x

    if any(np.ndim(v) == 0 for v in feeds.values()):
        return {"signature_name": signature, "inputs": {n: value(v) for n, v in feeds.items()}}
    count = len(next(iter(feeds.values())))
    rows = [{n: value(v[k]) for n, v in feeds.items()} for k in range(count)]
    return {"signature_name": signature,
            "instances": [next(iter(r.values())) for r in rows] if len(feeds) == 1 else rows}


def to_json(x):
    import numpy as np

    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, np.ndarray):
        return [to_json(v) for v in x] if x.dtype == object else x.round(4).tolist()
    if isinstance(x, np.generic):
        return round(x.item(), 4) if isinstance(x, np.floating) else x.item()
    return x


def draw(data, boxes):
    """The encoded image ``data`` with normalised ``boxes`` [D, 4] (ymin, xmin, ymax, xmax) drawn in red."""
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    drawn = tf.image.draw_bounding_boxes(tf.cast(image, tf.float32)[tf.newaxis], boxes[tf.newaxis],
                                         tf.constant([[255.0, 0.0, 0.0, 255.0]]))
    return tf.cast(drawn[0], tf.uint8)


def draw_polygons(data, polygons):
    """The encoded image ``data`` with ``polygons`` [K, 4, 2] (x, y pixels) drawn in red."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.open(io.BytesIO(data)).convert("RGB")
    pen = ImageDraw.Draw(image)
    for p in polygons:
        pen.polygon([tuple(float(v) for v in corner) for corner in p], outline=(255, 0, 0))
    return np.asarray(image)


def answers(kind, outputs, names, feeds, args):
    """One JSON-ready dict per example (and the files drawn, for detectors and GANs)."""
    import numpy as np

    from suite.data import image_grid, write_png

    if kind in ("gan", "latents"):
        path = args.output or "samples.png"
        images = outputs["images"]
        write_png(path, image_grid(images, columns=min(args.columns, len(images)), cell=args.cell))
        return [{"samples": len(images), "size": list(images.shape[1:3]), "grid": path}]
    result = []
    for k, name in enumerate(names):
        if kind == "images" and "detection_scores" in outputs:
            keep = outputs["detection_scores"][k] >= args.min_score
            keep &= np.arange(len(keep)) < int(outputs["num_detections"][k])
            boxes = outputs["detection_boxes_pixels"][k][keep][:, [1, 0, 3, 2]]  # x1, y1, x2, y2
            entry = {"input": name, "detections": [
                {"label": to_json(label), "score": round(float(s), 4), "box": [round(float(v), 1) for v in box]}
                for label, s, box in zip(outputs["detection_class_names"][k][keep],
                                         outputs["detection_scores"][k][keep], boxes)]}
            if args.output:
                entry["drawn"] = os.path.join(args.output, os.path.splitext(os.path.basename(name))[0] + ".boxes.png")
                write_png(entry["drawn"], draw(feeds["image_bytes"][k], outputs["detection_boxes"][k][keep]))
        elif kind == "images" and "polygons" in outputs:  # a text detector: each word's polygon
            n = int(outputs["num_words"][k])
            polygons = outputs["polygons"][k][:n]
            texts = [to_json(t) for t in outputs["texts"][k][:n]] if "texts" in outputs else [None] * n  # ocr
            entry = {"input": name, "words": [
                {"score": round(float(s), 4), "polygon": np.round(p, 1).tolist(), **({"text": t} if t is not None else {})}
                for p, s, t in zip(polygons, outputs["scores"][k][:n], texts)]}
            if args.output:
                entry["drawn"] = os.path.join(args.output, os.path.splitext(os.path.basename(name))[0] + ".words.png")
                write_png(entry["drawn"], draw_polygons(feeds["image_bytes"][k], polygons))
        elif kind == "images" and "class_map" in outputs:  # a segmenter: each class's share of the pixels
            h, w = (int(v) for v in outputs["image_sizes"][k])
            class_map = outputs["class_map"][k][:h, :w]
            shares = np.bincount(class_map.reshape(-1), minlength=len(outputs["class_names"][k])) / class_map.size
            entry = {"input": name, "size": [h, w], "classes": {
                to_json(label): round(float(v), 4) for label, v in zip(outputs["class_names"][k], shares) if v > 0}}
            if args.output:
                entry["drawn"] = os.path.join(args.output, os.path.splitext(os.path.basename(name))[0] + ".classes.png")
                os.makedirs(args.output, exist_ok=True)
                with open(entry["drawn"], "wb") as f:
                    f.write(outputs["class_map_png"][k])
        elif kind == "text" and "tokens" in outputs and "mask" in outputs:  # ELMo: each token's vector
            known = outputs["mask"][k]
            entry = {"input": name, "tokens": [to_json(t) for t in outputs["tokens"][k][known]],
                     "vectors": np.round(outputs["vectors"][k][known], 4).tolist()}
        else:
            entry = {"input": name, **{key: to_json(v[k]) for key, v in outputs.items() if np.ndim(v) >= 1}}
        result.append(entry)
    return result


def what_is_wrong(message):
    """The line of a TensorFlow runtime error that says what is wrong (the assertion's own message),
    not where in the graph it was detected."""
    where = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[")
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.strip().startswith(where)]
    return (lines[0] if lines else message).removeprefix("assertion failed: ")


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    model = load(args.export)
    signature, kind, specs = choose(model, args)
    feeds, names = request(kind, specs, args)
    if args.rest:
        print(json.dumps(rest_body(signature, feeds)))
        return None
    call = model.signatures[signature]
    try:
        outputs = call(**{n: tf.constant(v, dtype=specs[n].dtype) for n, v in feeds.items()})
    except tf.errors.InvalidArgumentError as e:
        raise ValueError(f"{args.export}: signature {signature!r} refused the input: {what_is_wrong(e.message)}") from e
    outputs = {k: v.numpy() for k, v in outputs.items()}
    result = answers(kind, outputs, names, feeds, args)
    for entry in result:
        print(json.dumps(entry))
    return result


if __name__ == "__main__":
    exit_on_error(main)
