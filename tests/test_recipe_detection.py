"""recipes.faster_rcnn and recipes.yolo end to end: each learns the embedded scenes (mAP@0.5 far
above the untrained detector's), exports the Object Detection API's outputs for images of any
size in a TensorFlow-only process, resumes, and refuses bad data before writing anything."""
import json
import math

import pytest

from conftest import assert_refused_cleanly, result_json, serve_random_uint8
from test_detection import _write_coco, _write_voc

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--num-images", "--eval-images",
        "--learning-rate")


@pytest.mark.parametrize("recipe, extra", [("faster_rcnn", ("--backbone", "--backbone-weights", "--pool")),
                                           ("yolo", ())])
def test_help_documents_every_flag(python, recipe, extra):
    out = python(["-m", f"recipes.{recipe}", "--help"]).stdout
    for flag in CORE + extra:
        assert flag in out, flag


def _check_detections(out, n, max_detections=100):
    assert len(out["detection_boxes"]) == n and len(out["detection_boxes"][0]) == max_detections
    assert len(out["detection_boxes"][0][0]) == 4
    assert len(out["detection_scores"][0]) == len(out["detection_classes"][0]) == max_detections
    assert len(out["num_detections"]) == n and all(0 <= d <= max_detections for d in out["num_detections"])
    for i in range(n):
        k = int(out["num_detections"][i])
        assert all(1 <= c <= 5 for c in out["detection_classes"][i][:k])  # 1-based, as the OD API
        assert all(0.0 <= v <= 1.0 for box in out["detection_boxes"][i][:k] for v in box)
        assert set(out["detection_class_names"][i][:k]) <= {"ellipse", "rectangle", "triangle", "cross", "ring"}


def _learn(python, tmp_path, recipe, *args):
    result = result_json(python(["-m", f"recipes.{recipe}", "--preset", "tiny", "--no-progress", *args,
                                 "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")]).stdout)
    print(json.dumps({"initial": result["initial"], "history": result["history"],
                      "images_per_second": result["images_per_second"]}))
    for size in ((2, 96, 96, 3), (1, 120, 80, 3)):  # resized in the graph
        _check_detections(serve_random_uint8(result["export"], {"images": list(size)}, tmp_path), size[0])
    return result


@pytest.mark.slow
def test_faster_rcnn_learns_the_embedded_scenes_and_exports(python, tmp_path):
    """Tiny Faster R-CNN, 2 x 250 steps of 8 images: mAP@0.5 far above the untrained detector's."""
    result = _learn(python, tmp_path, "faster_rcnn")
    assert result["step"] == 500
    assert result["initial"]["mAP50"] < 0.05
    assert result["eval"]["mAP50"] > 0.5 and result["eval"]["mAP50_voc07"] > 0.5
    assert result["eval"]["mAP_coco"] > result["initial"]["mAP_coco"] + 0.15
    history = [h[1]["mAP50"] for h in result["history"]]
    assert history[-1] >= history[0] - 0.05


@pytest.mark.slow
def test_yolo_learns_the_embedded_scenes_and_exports(python, tmp_path):
    """Tiny YOLO, 2 x 750 steps of 32 images: mAP@0.5 far above the untrained detector's (0)."""
    result = _learn(python, tmp_path, "yolo")
    assert result["step"] == 1500
    assert result["initial"]["mAP50"] < 0.02
    assert result["eval"]["mAP50"] > 0.25 and result["eval"]["mAP_coco"] > 0.05
    assert result["history"][-1][1]["mAP50"] > result["history"][0][1]["mAP50"]
    assert result["logs"]["loss"] < 3.5  # from about 6 in the first hundred steps


def test_detection_resumes_and_refuses_other_settings(python, tmp_path):
    base = ["-m", "recipes.faster_rcnn", "--preset", "tiny", "--steps-per-epoch", "3", "--eval-images", "8",
            "--num-images", "64", "--no-progress", "--logdir", str(tmp_path / "logs"),
            "--export-dir", str(tmp_path / "export")]
    first = result_json(python([*base, "--epochs", "1"]).stdout)
    assert first["step"] == 3 and first["export"].endswith("faster_rcnn/1")
    again = python([*base, "--epochs", "2"])
    assert result_json(again.stdout)["step"] == 6 and "Resumed" in again.stderr
    other = python([*base, "--pool", "align", "--epochs", "3"], check=False)
    assert other.returncode == 2 and "pool" in other.stderr


def test_bad_data_is_refused_before_anything_is_written(tmp_path):
    voc = tmp_path / "VOC2007"
    _write_voc(str(voc), [("dog", 0, (1, 1, 45, 15))])  # outside the 40-pixel-wide image
    assert_refused_cleanly(["-m", "recipes.yolo", "--preset", "tiny", "--data", str(voc)],
                           "000001.xml: object 0 ('dog') box", tmp_path)
    coco = tmp_path / "coco"
    _write_coco(str(coco), ["a.jpg", "gone.jpg"], [], write=["a.jpg"])
    assert_refused_cleanly(["-m", "recipes.faster_rcnn", "--preset", "tiny", "--data", str(coco)],
                           "instances_train2017.json: image gone.jpg", tmp_path)
    assert_refused_cleanly(["-m", "recipes.faster_rcnn", "--preset", "tiny", "--data", str(tmp_path / "nowhere")],
                           "no such folder", tmp_path)


def test_two_replica_mirrored_run(python, tmp_path):
    """Two logical CPUs under MirroredStrategy: each replica samples its own anchors and RoIs."""
    result = result_json(python(["-m", "recipes.faster_rcnn", "--preset", "tiny", "--strategy", "mirrored",
                                 "--virtual-cpus", "2", "--batch-size", "4", "--epochs", "1", "--steps-per-epoch",
                                 "3", "--eval-images", "4", "--num-images", "32", "--no-progress",
                                 "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")]).stdout)
    assert result["step"] == 3 and result["export"]


@pytest.mark.parametrize("recipe", ["faster_rcnn", "yolo"])
def test_xla_compiled_training(python, tmp_path, recipe):
    """--jit-compile: Faster R-CNN switches its proposal NMS to the padded, XLA-compilable one."""
    result = result_json(python(["-m", f"recipes.{recipe}", "--preset", "tiny", "--jit-compile", "--epochs", "1",
                                 "--steps-per-epoch", "3", "--batch-size", "4", "--eval-images", "4",
                                 "--num-images", "16", "--no-progress", "--logdir", str(tmp_path / "logs"),
                                 "--export-dir", str(tmp_path / "export")]).stdout)
    assert result["step"] == 3 and result["export"]
    assert all(math.isfinite(v) and v >= 0 for k, v in result["logs"].items() if k.startswith("loss"))
