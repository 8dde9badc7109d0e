"""Video datasets: the embedded motion videos, UCF-101 and HMDB-51 folders, ``tfds:ucf101``; optical
flow (OpenCV Farneback, quantised and cached as in the two-stream paper); clip sampling.

A dataset is a ``VideoSet``: its videos' labels and a loader of each video's
frames (uint8 [F, H, W, 3] at the set's size) and, on demand, of its optical
flow (uint8 [F - 1, H, W, 2], computed once per video and cached on disk).
``clip_dataset`` samples random clips for training; ``video_clips`` gives a
video's evenly spaced clips, whose averaged predictions are the video-level
prediction.
"""
import dataclasses
import hashlib
import os
import tempfile
from typing import Callable

import numpy as np

from suite.data.errors import DataError
from suite.data.files import REFUSE
from suite.data.order import order_dataset, shard_by_file

EMBEDDED = "motion"
MOTION_VERSION = 2  # of render_motion_video, in the flow-cache keys: flow cached from other pixels is not reused
MOTIONS = ("right", "left", "up", "down", "clockwise", "counterclockwise", "grow", "shrink")
SPLITS = {"train": 0, "validation": 1, "test": 2}
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm")
FLOW_BOUND = 20.0  # pixels per frame: the two-stream paper's clipping of the flow before it is stored as bytes


def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - a requirement
        raise ImportError("video data needs OpenCV: pip install -r requirements.txt") from e
    return cv2


# ------------------------------------------------------------------ embedded motion videos
def render_motion_video(rng, label, size=32, frames=20, first=0, count=None, with_flow=False):
    """One video of class ``MOTIONS[label]``: a polygon that moves right/left/up/down, turns
    clockwise/counter-clockwise or grows/shrinks, with a random speed, in front of a cluttered
    static background with a still distractor polygon, plus camera noise.

    No single frame tells the classes apart, only motion does: the frame wraps around (a torus:
    what leaves on the right comes back on the left), so the moving object is anywhere with the same
    probability at every frame whatever its motion; an object that does not grow or shrink is drawn
    at the size a growing one has at a random frame, so sizes do not tell either; angles are
    uniform. Returns uint8 [count, size, size, 3]: frames ``first`` .. ``first + count`` of the
    ``frames``-frame video (all of them by default), the same pixels whichever range is asked for
    (the camera noise is keyed on the frame). ``with_flow``: also the true optical flow from each of
    those frames to the next, float32 [count - 1, size, size, 2] (x right, y down, in pixels; the
    moving object's pixels move as its pose does, every other pixel is still), for measuring flow
    methods against.
    """
    cv2 = _cv2()
    s = size / 32.0  # motions and shapes scale with the frame
    canvas = np.empty((size, size, 3), np.float32)
    background = rng.uniform(40, 215, 3)
    canvas[:] = background
    for _ in range(int(rng.integers(3, 7))):  # clutter: rectangles of nearby colours
        x0, y0 = rng.integers(0, size, 2)
        w, h = rng.integers(max(2, size // 10), max(3, size // 3), 2)
        colour = np.clip(background + rng.uniform(-50, 50, 3), 0, 255)
        cv2.rectangle(canvas, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), colour.tolist(), -1)

    def polygon(radius):
        n = int(rng.integers(3, 6))  # corners spread around the centre: never a sliver
        angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * (np.arange(n) + rng.uniform(-0.3, 0.3, n)) / n
        radii = radius * rng.uniform(0.6, 1.0, n)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)

    # on a torus: the copies one frame away show what crosses an edge; the nine copies' corners in one array
    # operation, and only those within two pixels of the frame drawn (the same pixels; a clip in 0.57x the time)
    copies = np.array([(dx, dy) for dx in (-size, 0, size) for dy in (-size, 0, size)], np.float64)[:, None, :]

    def draw(image, shape, centre, angle, scale, colour):
        c, si = np.cos(angle), np.sin(angle)
        pts = (shape @ np.array([[c, si], [-si, c]])) * scale + np.mod(centre, size)
        corners = pts + copies
        low, high = corners.min(axis=1), corners.max(axis=1)
        near = np.all((high > -2) & (low < size + 1), axis=1)
        for poly in np.round(corners[near] * 16).astype(np.int32):
            cv2.fillPoly(image, [poly], colour, lineType=cv2.LINE_AA, shift=4)

    luma = np.array([0.299, 0.587, 0.114])  # grey, as the optical flow sees it

    def contrasting():  # a colour far from the background's, in grey too
        while True:
            colour = rng.uniform(0, 255, 3)
            if np.abs(colour - background).max() > 90 and abs((colour - background) @ luma) > 40:
                return colour.tolist()

    # a still distractor, the same kind of shape as the moving one
    draw(canvas, polygon(rng.uniform(4, 7) * s), rng.uniform(0, size, 2), rng.uniform(0, 2 * np.pi), 1.0,
         contrasting())
    shape = polygon(rng.uniform(5.5, 8.0) * s)
    colour = contrasting()
    middle_centre = rng.uniform(0, size, 2)
    middle_angle = rng.uniform(0, 2 * np.pi)
    middle_scale = rng.uniform(0.8, 1.25)
    speed = rng.uniform(0.75, 1.0)  # of the class's full speed
    motion = MOTIONS[label]
    if motion not in ("grow", "shrink"):  # the size a growing object has at a random frame
        middle_scale *= np.exp(0.06 * speed * (rng.integers(frames) - (frames - 1) / 2.0))
    noise_seed = int(rng.integers(2**31))
    count = frames - first if count is None else count

    def pose(t):  # the moving object's centre, angle and scale at frame t
        dt = t - (frames - 1) / 2.0
        centre, angle, scale = middle_centre.copy(), middle_angle, middle_scale
        step = 1.5 * s * speed * dt  # pixels
        if motion == "right":
            centre[0] += step
        elif motion == "left":
            centre[0] -= step
        elif motion == "up":
            centre[1] -= step
        elif motion == "down":
            centre[1] += step
        elif motion == "clockwise":
            angle += 0.2 * speed * dt
        elif motion == "counterclockwise":
            angle -= 0.2 * speed * dt
        elif motion == "grow":
            scale *= np.exp(0.06 * speed * dt)
        else:
            scale *= np.exp(-0.06 * speed * dt)
        return centre, angle, scale

    video = np.empty((count, size, size, 3), np.uint8)
    for t in range(first, first + count):
        image = canvas.copy()
        draw(image, shape, *pose(t), colour)
        image += np.random.default_rng([noise_seed, t]).normal(0, 4.0, image.shape)
        video[t - first] = np.clip(image, 0, 255).astype(np.uint8)
    if not with_flow:
        return video
    flow = np.zeros((max(count - 1, 0), size, size, 2), np.float32)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    for t in range(first, first + count - 1):
        (c0, a0, s0), (c1, a1, s1) = pose(t), pose(t + 1)
        mask = np.zeros((size, size), np.float32)
        draw(mask, shape, c0, a0, s0, 1.0)
        inside = mask >= 0.5
        # each covered pixel in the object's own coordinates (nearest copy on the torus), then where it is a
        # frame later
        r = np.stack([xs[inside], ys[inside]], 1) - np.mod(c0, size)
        r = np.mod(r + size / 2.0, size) - size / 2.0
        rotation = [np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) for a in (a0, a1)]
        q = (r / s0) @ rotation[0].T
        flow[t - first][inside] = q @ rotation[1] * s1 + (c1 - c0) - r
    return video, flow


def embedded_videos(count, size=32, frames=20, seed=0, split="train"):
    """``count`` motion videos, classes in turn (balanced), deterministic from (seed, split, index):
    (videos uint8 [count, frames, size, size, 3], labels int32 [count])."""
    videos = EmbeddedVideos(count, size, frames, seed, split)
    frames_of = [videos.load(i) for i in range(count)]
    return (np.stack(frames_of) if count else np.zeros((0, frames, size, size, 3), np.uint8)), videos.labels


# ------------------------------------------------------------------ optical flow
def farneback_flow(frames):
    """Dense optical flow between consecutive frames (OpenCV Farneback): uint8 [F, H, W, 3] ->
    float32 [F - 1, H, W, 2], (dx, dy) in pixels per frame, x to the right, y down."""
    cv2 = _cv2()
    frames = np.asarray(frames)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    out = np.empty((len(frames) - 1, *frames.shape[1:3], 2), np.float32)
    for t in range(len(frames) - 1):
        out[t] = cv2.calcOpticalFlowFarneback(gray[t], gray[t + 1], None, pyr_scale=0.5, levels=3, winsize=9,
                                              iterations=3, poly_n=5, poly_sigma=1.1, flags=0)
    return out


def quantize_flow(flow, bound=FLOW_BOUND):
    """As the two-stream paper stores flow: clipped to [-bound, bound] pixels and rescaled linearly
    to bytes [0, 255] (127.5 is no motion)."""
    q = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
    return np.round(q).astype(np.uint8)


def dequantize_flow(q, bound=FLOW_BOUND):
    return np.asarray(q, np.float32) * (2 * bound / 255.0) - bound


def _atomic_save(path, array):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class FlowCache:
    """Each video's quantised flow, computed once and kept as ``directory/<key>.npy`` (written to a
    temporary file and renamed, so an interrupted run leaves no half-written flow). With
    ``directory=None`` it is kept in memory only."""

    def __init__(self, directory=None, bound=FLOW_BOUND):
        self.directory = directory
        self.bound = bound
        self.memory = {}
        self.computed = 0

    def get(self, key, frames_fn):
        if key in self.memory:
            return self.memory[key]
        path = None
        if self.directory:
            digest = hashlib.sha1(f"{key}|{self.bound}".encode()).hexdigest()[:20]
            path = os.path.join(self.directory, f"{digest}.npy")
            if os.path.isfile(path):
                flow = np.load(path)
                self.memory[key] = flow
                return flow
        flow = quantize_flow(farneback_flow(frames_fn()), self.bound)
        self.computed += 1
        if path:
            _atomic_save(path, flow)
        self.memory[key] = flow
        return flow


# ------------------------------------------------------------------ video sets
@dataclasses.dataclass
class VideoSet:
    """Videos of one split: ``labels`` [N], ``class_names``, ``load(i)`` -> uint8 [F, H, W, 3] at
    ``size``, ``keys`` (for the flow cache and messages: a path, or a name)."""

    labels: np.ndarray
    class_names: tuple
    load: Callable
    keys: list
    size: int
    flow_cache: FlowCache = None
    load_clip: Callable = None  # (i, start, length) -> frames; default: a slice of load(i)
    lengths: Callable = None  # i -> number of frames; default: len(load(i))
    load_flow: Callable = None  # (i, start, count) -> stored quantised flow fields; default: computed (flow_window)
    rendered: bool = False  # frames cost nothing to make again: flow is computed per clip, never cached
    files: np.ndarray = None  # the file each video is in, when files hold many (prepared shards); default: its own

    def __len__(self):
        return len(self.labels)

    def clip(self, i, start, length):
        if self.load_clip is not None:
            return self.load_clip(i, start, length)
        return self.load(i)[start:start + length]

    def num_frames(self, i):
        return self.lengths(i) if self.lengths is not None else len(self.load(i))

    def flow(self, i):
        """Video ``i``'s quantised flow [F - 1, H, W, 2], computed once and cached."""
        if self.flow_cache is None:
            self.flow_cache = FlowCache()
        return self.flow_cache.get(self.keys[i], lambda: self.load(i))

    def flow_window(self, i, start, count):
        """Flow fields ``start`` .. ``start + count`` of video ``i``. Rendered videos compute them from
        the window's frames each time -- as cheap as reading a cache, and a large embedded set never
        fills one; decoded videos read the cached whole-video flow, prepared ones their stored flow."""
        if self.load_flow is not None:
            return self.load_flow(i, start, count)
        if self.rendered:
            bound = self.flow_cache.bound if self.flow_cache is not None else FLOW_BOUND
            return quantize_flow(farneback_flow(self.clip(i, start, count + 1)), bound)
        return self.flow(i)[start:start + count]

    def precompute_flow(self, progress=False):
        """Computes (or loads) every decoded video's flow once, with a progress bar when asked
        (rendered videos compute theirs per clip, prepared ones may keep it)."""
        if self.rendered or self.load_flow is not None:
            return
        indices = range(len(self))
        if progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc="optical flow", unit="video", mininterval=2.0)
        for i in indices:
            self.flow(i)


class EmbeddedVideos:
    """The embedded videos of (seed, split), rendered when asked for (nothing is held in memory, so a
    training set can be large enough that no network memorises it): ``load(i)``, and
    ``load_clip(i, start, length)`` which renders only those frames."""

    def __init__(self, count, size, frames, seed, split):
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
        self.size, self.frames, self.seed, self.split = size, frames, seed, SPLITS[split]
        self.labels = np.arange(count, dtype=np.int32) % len(MOTIONS)

    def rng(self, i):
        return np.random.default_rng([self.seed, 7, self.split, i])

    def load(self, i):
        return render_motion_video(self.rng(i), int(self.labels[i]), self.size, self.frames)

    def load_clip(self, i, start, length):
        return render_motion_video(self.rng(i), int(self.labels[i]), self.size, self.frames, start, length)


def embedded_set(count, size=32, frames=20, seed=0, split="train", flow_cache=None):
    videos = EmbeddedVideos(count, size, frames, seed, split)
    keys = [f"motion-v{MOTION_VERSION}-{seed}-{split}-{size}-{frames}-{i}" for i in range(count)]
    return VideoSet(videos.labels, MOTIONS, videos.load, keys, size, flow_cache,
                    load_clip=videos.load_clip, lengths=lambda i: frames, rendered=True)


def open_video(path):
    """An OpenCV capture of ``path`` decoding on one thread (FFmpeg's default is a thread a core: with
    the input pipeline decoding a clip per core it only contends; 1.9x from one core to two instead
    of 1.45x, measured on 320x240 XviD clips), or OpenCV's default backend's if FFmpeg cannot open it."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not capture.isOpened():
        capture.release()
        capture = cv2.VideoCapture(path)
    return capture


def decode_video(path, size=None, start=0, count=None):
    """The frames ``start`` .. ``start + count`` (all from ``start`` by default) of a video file
    (OpenCV), RGB uint8 [F, H, W, 3], resized to size x size when given. A clip is read by seeking
    to its first frame, not by decoding the frames before it (where the container cannot seek
    exactly, they are skipped without being decoded: ``grab``). A file OpenCV cannot open or that has
    no frame there is a DataError naming it."""
    cv2 = _cv2()
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such video file")
    capture = open_video(path)
    frames = []
    try:
        if not capture.isOpened():
            raise DataError(f"{path}: not a readable video (OpenCV could not open it)")
        if start:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != start:  # no exact seek: from the start, undecoded
                capture.release()
                capture = open_video(path)
                for _ in range(start):
                    capture.grab()
        while count is None or len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA) if size else frame)
    finally:
        capture.release()
    if not frames:
        raise DataError(f"{path}: not a readable video (no frame could be decoded)")
    return np.ascontiguousarray(np.stack(frames)[..., ::-1])  # BGR -> RGB once, after resizing (they commute)


def _check_video(path, min_frames):
    cv2 = _cv2()
    capture = open_video(path)
    try:
        if not capture.isOpened():
            raise DataError(f"{path}: not a readable video (OpenCV could not open it)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, _ = capture.read()
    finally:
        capture.release()
    if not ok:
        raise DataError(f"{path}: not a readable video (no frame could be decoded)")
    if 0 < count < min_frames:
        raise DataError(f"{path}: {count} frames, shorter than the clip length {min_frames}")
    return path, count


def check_video_files(paths, min_frames, progress=False, bad=None):
    """Opens every video file once before training (its header and first frame: cheap), so a bad file
    stops the run before it starts, not in the middle of an epoch: a DataError naming the first that
    OpenCV cannot open or that has fewer than ``min_frames`` frames, or, with ``bad`` skipping
    (``--skip-bad-files``), those files left out and named. Returns {path kept: its frame count in
    its header (0 if the header has none)}."""
    bad = bad or REFUSE
    shown = paths
    if progress:
        from tqdm import tqdm

        shown = tqdm(paths, desc="checking videos", unit="video", mininterval=2.0)
    return dict(kept for kept in (bad.check(_check_video, path, min_frames) for path in shown) if kept)


def _folder_loader(paths, size, min_frames, counts=None):
    """(load, load_clip, lengths) of video files: ``load(i)`` decodes a whole video (kept for the 16
    latest: Farneback flow is computed once per video from all its frames), ``load_clip(i, start,
    length)`` seeks to the clip and decodes only its frames, ``lengths(i)`` the frame count from the
    file's header (``counts``: {path: count} its check read already), corrected when a clip finds the
    video shorter."""
    import functools

    cv2 = _cv2()
    counted = {i: counts[p] for i, p in enumerate(paths) if counts and counts.get(p, 0) > 0}

    @functools.lru_cache(maxsize=16)  # a video's clips are often read together (evaluation)
    def load(i):
        frames = decode_video(paths[i], size)
        if len(frames) < min_frames:
            raise DataError(f"{paths[i]}: {len(frames)} frames, shorter than the clip length {min_frames}")
        counted[i] = len(frames)
        return frames

    def lengths(i):
        if i not in counted:
            capture = open_video(paths[i])
            try:
                counted[i] = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            finally:
                capture.release()
            if counted[i] <= 0:  # no count in the header: decode once
                counted[i] = len(load(i))
        return counted[i]

    def load_clip(i, start, length):
        frames = decode_video(paths[i], size, start, length)
        if len(frames) < length:  # the header counted more frames than there are: the clip ends at the last
            counted[i] = start + len(frames)
            if counted[i] < max(length, min_frames):
                raise DataError(f"{paths[i]}: {counted[i]} frames, shorter than the clip length "
                                f"{max(length, min_frames)}")
            frames = decode_video(paths[i], size, counted[i] - length, length)
        return frames

    return load, load_clip, lengths


def _check_listed(root, entries, split_file):
    for rel, _ in entries:
        if not os.path.isfile(os.path.join(root, rel)):
            raise DataError(f"{split_file}: names {rel}, which is not in {root}")


def read_ucf101_split(root, split="train", fold=1):
    """UCF-101 as distributed: ``root/<Class>/v_<Class>_gXX_cYY.avi`` and ``root/ucfTrainTestlist``
    (``classInd.txt``: "1 ApplyEyeMakeup"; ``trainlistNN.txt``: "Class/video.avi 1";
    ``testlistNN.txt``: "Class/video.avi"). Returns (entries [(relative path, label)], class
    names); a split file naming a missing video is a DataError naming both."""
    lists = os.path.join(root, "ucfTrainTestlist")
    index_file = os.path.join(lists, "classInd.txt")
    if not os.path.isfile(index_file):
        raise DataError(f"--data {root}: not a UCF-101 folder (no ucfTrainTestlist/classInd.txt)")
    names = {}
    with open(index_file) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                parts = line.split()
                if len(parts) != 2 or not parts[0].isdigit():
                    raise DataError(f"{index_file}:{n}: expected 'INDEX CLASS', got {line.strip()!r}")
                names[parts[1]] = int(parts[0]) - 1
    class_names = tuple(sorted(names, key=names.get))
    split_file = os.path.join(lists, f"{'trainlist' if split == 'train' else 'testlist'}{fold:02d}.txt")
    if not os.path.isfile(split_file):
        raise DataError(f"--data {root}: no split file {split_file}")
    entries = []
    with open(split_file) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            rel = line.split()[0]
            cls = rel.split("/")[0]
            if cls not in names:
                raise DataError(f"{split_file}:{n}: class {cls!r} is not in {index_file}")
            entries.append((rel, names[cls]))
    _check_listed(root, entries, split_file)
    return entries, class_names


def read_hmdb51_split(root, split="train", fold=1):
    """HMDB-51 as distributed: ``root/<class>/<video>.avi`` and the split files
    ``root/testTrainMulti_7030_splits/<class>_test_split<fold>.txt`` ("video.avi 1": 1 train,
    2 test, 0 unused). Returns (entries, class names)."""
    lists = os.path.join(root, "testTrainMulti_7030_splits")
    if not os.path.isdir(lists):
        raise DataError(f"--data {root}: not an HMDB-51 folder (no testTrainMulti_7030_splits/)")
    suffix = f"_test_split{fold}.txt"
    files = sorted(f for f in os.listdir(lists) if f.endswith(suffix))
    if not files:
        raise DataError(f"--data {root}: no split files *{suffix} in {lists}")
    class_names = tuple(f[: -len(suffix)] for f in files)
    wanted = "1" if split == "train" else "2"
    entries = []
    for label, (cls, name) in enumerate(zip(class_names, files)):
        split_file = os.path.join(lists, name)
        with open(split_file) as f:
            listed = []
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise DataError(f"{split_file}:{n}: expected 'VIDEO 0|1|2', got {line.strip()!r}")
                if parts[1] == wanted:
                    listed.append((f"{cls}/{parts[0]}", label))
        _check_listed(root, listed, split_file)
        entries += listed
    return entries, class_names


def folder_set(root, split="train", size=32, min_frames=1, fold=1, flow_cache=None, check=False, progress=False,
               bad=None):
    """A UCF-101 or HMDB-51 folder (found by its split files) as a VideoSet; ``check`` opens every
    video first (``check_video_files``: a bad one refused, or left out with ``bad`` skipping)."""
    if not os.path.isdir(root):
        raise DataError(f"--data {root}: no such folder (expected 'motion', tfds:ucf101, or a UCF-101 or "
                        "HMDB-51 folder with its split files)")
    if os.path.isdir(os.path.join(root, "ucfTrainTestlist")):
        entries, names = read_ucf101_split(root, split, fold)
    else:
        entries, names = read_hmdb51_split(root, split, fold)
    if not entries:
        raise DataError(f"--data {root}: the {split} split of fold {fold} lists no video")
    counts = None
    if check:
        counts = check_video_files([os.path.join(root, rel) for rel, _ in entries], min_frames, progress, bad)
        entries = [(rel, label) for rel, label in entries if os.path.join(root, rel) in counts]
        if not entries:
            raise DataError(f"--data {root}: no readable video in the {split} split of fold {fold}")
    paths = [os.path.join(root, rel) for rel, _ in entries]
    labels = np.array([label for _, label in entries], np.int32)
    load, load_clip, lengths = _folder_loader(paths, size, min_frames, counts)
    return VideoSet(labels, names, load, paths, size, flow_cache, load_clip=load_clip, lengths=lengths)


def tfds_videos(name, split="train", size=32, min_frames=1, data_dir=None):
    """``tfds:ucf101`` (prepared in TFDS_DATA_DIR) streamed: (expected count, class names, a generator
    of (frames uint8 [F, size, size, 3], label, key)); videos shorter than ``min_frames`` left out."""
    import tensorflow_datasets as tfds

    cv2 = _cv2()
    tfds_split = {"train": "train", "validation": "test", "test": "test"}[split]
    try:
        ds, info = tfds.load(name, split=tfds_split, with_info=True, data_dir=data_dir)
    except Exception as e:  # noqa: BLE001 - tfds raises many kinds
        raise DataError(f"--data tfds:{name}: cannot load the {tfds_split} split ({e})") from None

    def videos():
        for i, example in enumerate(ds.as_numpy_iterator()):
            frames = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in example["video"]])
            if len(frames) >= min_frames:
                yield frames, int(example["label"]), f"tfds-{name}-{tfds_split}-{size}-{i}"

    from suite.data.prepare import split_size

    return split_size(info, tfds_split), tuple(info.features["label"].names), videos()


def tfds_set(name, split="train", size=32, min_frames=1, flow_cache=None, data_dir=None):
    """``tfds:ucf101`` (prepared in TFDS_DATA_DIR): videos decoded into memory at ``size`` when they fit
    ``suite.data.prepare.MEMORY_BYTES`` (a larger split is prepared once instead)."""
    from suite.data.prepare import MemoryBudget

    budget = MemoryBudget(f"tfds:{name} {split}", "video")
    videos, labels, keys = [], [], []
    _, names, stream = tfds_videos(name, split, size, min_frames, data_dir)
    for frames, label, key in stream:
        budget.add(frames.nbytes)
        videos.append(frames)
        labels.append(label)
        keys.append(key)
    return VideoSet(np.array(labels, np.int32), names, lambda i: videos[i], keys, size, flow_cache)


def prepared_set(root, split="train", size=32, min_frames=1, flow_cache=None):
    """A prepared split (``python -m suite.data.prepare video``; its manifest and shards checked): a
    VideoSet that seeks to each video's record when asked for it and decodes only the clip's frames
    (nothing held in memory but the offsets), with the stored flow when it was prepared ``--flow``."""
    from suite.data import prepare

    manifest, entry, records, files = prepare.indexed_split(root, split, "video", ("lengths", "labels", "names"))
    if manifest["size"] != size:
        raise DataError(f"{root}: frames prepared at {manifest['size']}x{manifest['size']}, the model takes "
                        f"{size}x{size} (prepare it again with --size {size})")
    lengths = np.asarray(entry["lengths"], np.int64)
    short = np.flatnonzero(lengths < min_frames)
    if len(short):
        raise DataError(f"{root}: {entry['names'][short[0]]} has {lengths[short[0]]} frames, shorter than the clip "
                        f"length {min_frames}")
    reader = prepare.Records()

    def features(i):
        file, offset = records[i]
        return prepare.example_features(reader.read(file, offset), file, offset), f"{file} (byte {offset})"

    def load_clip(i, start=0, length=None):
        f, where = features(i)
        entries = f["frames"].bytes_list.value
        return prepare.decode_frames(entries[start:len(entries) if length is None else start + length], size,
                                     manifest["encoding"], where)

    def load_flow(i, start, count):
        f, where = features(i)
        return prepare.unpack(f["flow"].bytes_list.value[start:start + count], (size, size, 2), where)

    keys = [f"{prepare.PREFIX}{name}|{size}" for name in entry["names"]]
    return VideoSet(np.asarray(entry["labels"], np.int32), tuple(manifest["class_names"]), load_clip, keys, size,
                    flow_cache, load_clip=load_clip, lengths=lambda i: int(lengths[i]),
                    load_flow=load_flow if manifest["flow"] else None, files=files)


def video_set(data, split="train", size=32, min_frames=1, seed=0, count=None, frames=20, flow_cache=None, fold=1,
              check=False, progress=False, bad=None):
    """The VideoSet ``--data`` names: 'motion' (embedded; ``count`` videos of ``frames`` frames),
    'tfds:NAME', 'tfrecord:DIR' (``prepared_set``), or a UCF-101 / HMDB-51 folder."""
    from suite.data.prepare import PREFIX

    if data.startswith(PREFIX):
        return prepared_set(os.path.expanduser(data[len(PREFIX):]), split, size, min_frames, flow_cache)
    if data == EMBEDDED:
        if frames < min_frames:
            raise DataError(f"embedded videos of {frames} frames are shorter than the clip length {min_frames}")
        return embedded_set(count or 0, size, frames, seed, split, flow_cache)
    if data.startswith("tfds:"):
        return tfds_set(data[5:], split, size, min_frames, flow_cache)
    return folder_set(data, split, size, min_frames, fold=fold, flow_cache=flow_cache, check=check,
                      progress=progress, bad=bad)


# ------------------------------------------------------------------ clips
def clip_at(videos, i, start, clip_frames, flow_frames=0):
    """Video ``i``'s clip from frame ``start``: {"frames": uint8 [clip_frames, H, W, 3]} and, with
    ``flow_frames`` = L > 0, {"flow": uint8 [H, W, 2L]}: the L flow fields from ``start`` stacked
    as (dx_1, dy_1, ..., dx_L, dy_L), with the RGB frame the middle of the flow's window."""
    n = videos.num_frames(i)
    length = max(clip_frames, flow_frames + 1)
    if n < length:
        raise DataError(f"{videos.keys[i]}: {n} frames, shorter than the clip length {length}")
    if flow_frames:
        flow = videos.flow_window(i, start, flow_frames)  # [L, H, W, 2]
        stacked = np.transpose(flow, (1, 2, 0, 3)).reshape(*flow.shape[1:3], 2 * flow_frames)
        middle = start + flow_frames // 2
        first = min(max(middle - clip_frames // 2, 0), n - clip_frames)
        return {"frames": videos.clip(i, first, clip_frames), "flow": stacked}
    return {"frames": videos.clip(i, start, clip_frames)}


def clip_starts(num_frames, clip_frames, flow_frames, count):
    """``count`` evenly spaced clip starts over a video of ``num_frames`` frames."""
    last = num_frames - max(clip_frames, flow_frames + 1)
    return np.unique(np.linspace(0, max(last, 0), count).round().astype(int))


def video_clips(videos, i, clip_frames, flow_frames=0, count=5):
    """Video ``i``'s ``count`` evenly spaced clips, stacked: {"frames": [K, T, H, W, 3], ...}."""
    n = videos.num_frames(i)
    clips = [clip_at(videos, i, s, clip_frames, flow_frames) for s in clip_starts(n, clip_frames, flow_frames,
                                                                                    count)]
    return {k: np.stack([c[k] for c in clips]) for k in clips[0]}


def clip_dataset(videos, clip_frames, batch_size, flow_frames=0, seed=0, training=True, shard=None, start=0):
    """tf.data of (clip inputs, label) batches: random clips of random videos, repeated (training; from
    the ``start``-th batch of that order), or each video's middle clip once (``training=False``).
    ``shard`` = (count, index): this worker's videos are those of every count-th file from the
    index-th (each video its own file, or ``videos.files``: the shards of a prepared set)."""
    import tensorflow as tf

    indices = shard_by_file(len(videos), shard, videos.files)
    if not len(indices):
        raise DataError("no video to sample clips from")
    first = clip_at(videos, int(indices[0]), 0, clip_frames, flow_frames)
    signature = ({k: tf.TensorSpec(v.shape, tf.uint8) for k, v in first.items()}, tf.TensorSpec([], tf.int32))

    key = [seed, 13, 0 if shard is None else shard[1]]
    names = sorted(first)

    def load(epoch, i):  # decoding (OpenCV) and flow in NumPy
        i = int(i)
        last = videos.num_frames(i) - max(clip_frames, flow_frames + 1)
        begin = int(np.random.default_rng([*key, int(epoch), i]).integers(0, last + 1)) if training else last // 2
        clip = clip_at(videos, i, begin, clip_frames, flow_frames)
        return (*(clip[k] for k in names), np.int32(videos.labels[i]))

    def load_batch(epochs, ids):  # a batch's clips in one NumPy call (one call a clip cost 0.9 ms of overhead)
        clips = [load(e, i) for e, i in zip(epochs, ids)]
        return tuple(np.stack(column) for column in zip(*clips))

    def batch(epochs, ids):  # batches mapped in parallel, in order
        *arrays, labels = tf.numpy_function(load_batch, [epochs, ids], [tf.uint8] * len(names) + [tf.int32],
                                            stateful=False)
        inputs = {k: tf.ensure_shape(a, [None, *signature[0][k].shape]) for k, a in zip(names, arrays)}
        return inputs, tf.ensure_shape(labels, [None])

    order = (order_dataset(indices, key, start * batch_size, with_epoch=True) if training
             else tf.data.Dataset.from_tensor_slices((np.zeros(len(indices), np.int64), indices.astype(np.int64))))
    ds = order.batch(batch_size, drop_remainder=training)
    return ds.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
