"""Fast R-CNN (issue 23 item 3): selective search, proposal files in their documented layout, the
pipeline's proposals flipped with the image, the network on given proposals."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from suite.data import detection as data
from suite.data.errors import DataError
from suite.detection import fast_rcnn, faster_rcnn, proposals
from suite.detection.boxes import iou_numpy
from test_detection import _write_voc


def test_selective_search_finds_the_embedded_objects():
    found, counts = [], []
    for i in range(8):
        image, boxes, _ = data.render_scene(np.random.default_rng([5, i]), 96)
        given = proposals.selective_search(image, "fast")
        assert given.dtype == np.float32 and given.shape[1] == 4 and 1 <= len(given) <= 400
        counts.append(len(given))
        assert given.min() >= 0 and given.max() <= 1 and np.all(given[:, 2:] > given[:, :2])
        assert len(np.unique(given, axis=0)) == len(given)
        found += [iou_numpy(b, given).max() for b in boxes]
    assert np.mean(np.array(found) >= 0.5) >= 0.9, found  # recall at IoU 0.5 (1.0 on these seeds)
    assert np.mean(counts) >= 20, counts  # 6 to 90 on these 96-pixel scenes
    with pytest.raises(ValueError, match="mode must be one of"):
        proposals.selective_search(image, "slow")


def _voc_with_two_images(root):
    _write_voc(root, [("dog", 0, (1, 1, 20, 15))])  # 000001.jpg, 40 x 30
    import cv2

    cv2.imwrite(os.path.join(root, "JPEGImages", "000002.jpg"), np.full((50, 80, 3), 90, np.uint8))
    with open(os.path.join(root, "Annotations", "000002.xml"), "w") as f:
        f.write("<annotation><filename>000002.jpg</filename><size><width>80</width><height>50</height></size>"
                "<object><name>cat</name><bndbox><xmin>11</xmin><ymin>6</ymin><xmax>50</xmax><ymax>40</ymax>"
                "</bndbox></object></annotation>")
    for split in ("trainval", "test"):
        with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("000001\n000002\n")
    return data.detection_set(root, "train", size=32).paths


def test_proposal_files_in_both_layouts_are_normalised_by_each_images_size(tmp_path):
    paths = _voc_with_two_images(str(tmp_path / "voc"))
    folder = tmp_path / "npy"
    folder.mkdir()
    np.save(folder / "000001.npy", np.array([[0, 0, 20, 15, 0.9], [10, 3, 50, 30, 0.5]], np.float32))  # + a score
    np.save(folder / "000002.npy", np.zeros((0, 4), np.float32))  # none: allowed
    table = tmp_path / "proposals.json"
    table.write_text(json.dumps({"000001.jpg": [[0, 0, 20, 15], [10, 3, 50, 30]], "000002": []}))
    for source in (folder, table):
        given = proposals.ProposalFiles(str(source), paths)
        # 40 x 30 image: (x1, y1, x2, y2) -> (y1 / 30, x1 / 40, y2 / 30, x2 / 40), clipped to the image
        np.testing.assert_allclose(given(0), [[0, 0, 0.5, 0.5], [0.1, 0.25, 1.0, 1.0]], atol=1e-6)
        assert given(1).shape == (0, 4)


def test_proposal_files_name_what_is_wrong(tmp_path):
    paths = _voc_with_two_images(str(tmp_path / "voc"))
    folder = tmp_path / "npy"
    folder.mkdir()
    np.save(folder / "000001.npy", np.array([[0, 0, 20, 15]], np.float32))
    with pytest.raises(DataError, match=r"no 000002\.npy for image .*000002\.jpg"):
        proposals.ProposalFiles(str(folder), paths)
    np.save(folder / "000002.npy", np.array([[0, 0, 20, 15], [30, 5, 30, 9]], np.float32))  # no width
    with pytest.raises(DataError, match=r"000002\.npy: proposal row 1 \[30\.0, 5\.0, 30\.0, 9\.0\] is not a box"):
        proposals.ProposalFiles(str(folder), paths)
    (folder / "000002.npy").write_bytes(b"\x00" * 40)
    with pytest.raises(DataError, match=r"000002\.npy: not a NumPy array file"):
        proposals.ProposalFiles(str(folder), paths)
    table = tmp_path / "p.json"
    table.write_text(json.dumps({"000001": [[0, 0, 4, 4]]}))
    with pytest.raises(DataError, match=r"p\.json: no proposals for image 000002\.jpg"):
        proposals.ProposalFiles(str(table), paths)
    table.write_text(json.dumps({"000001": [[0, 0, 4, 4]], "000002": [[0, 0, 4]]}))
    with pytest.raises(DataError, match=r"p\.json \[000002\]: proposals must be \[K, 4\]"):
        proposals.ProposalFiles(str(table), paths)
    table.write_text("{not json")
    with pytest.raises(DataError, match="not a JSON file"):
        proposals.ProposalFiles(str(table), paths)
    with pytest.raises(DataError, match="no such file or folder"):
        proposals.ProposalFiles(str(tmp_path / "gone"), paths)


def test_the_proposals_command_writes_the_folder_layout_and_resumes(tmp_path, python):
    root = str(tmp_path / "voc")
    paths = _voc_with_two_images(root)
    out = tmp_path / "out"
    out.mkdir()
    np.save(out / "000001.npy", np.array([[1, 2, 3, 4]], np.float32))  # done before: kept
    done = python(["-m", "suite.detection.proposals", "--data", root, "--out", str(out), "--mode", "single",
                   "--no-progress"])
    assert "2 images' proposals" in done.stdout
    assert sorted(os.listdir(out)) == ["000001.npy", "000002.npy"]  # nothing partial left
    np.testing.assert_array_equal(np.load(out / "000001.npy"), [[1, 2, 3, 4]])
    given = proposals.ProposalFiles(str(out), paths)  # what the command writes, the recipe reads
    assert given(1).shape[1] == 4
    refused = python(["-m", "suite.detection.proposals", "--data", "shapes", "--out", str(out)], check=False)
    assert refused.returncode == 2 and "a VOC or COCO folder" in refused.stderr


def test_pipeline_flips_the_proposals_with_the_image():
    image = np.zeros((32, 32, 3), np.uint8)
    image[4:12, 2:10] = 255
    box = np.array([[4 / 32, 2 / 32, 12 / 32, 10 / 32]], np.float32)
    one = data.DetectionSet(("r",), 32, 1, lambda i: (image, box, np.array([0], np.int32), np.zeros(1, bool)))
    given = lambda i, img: np.concatenate([box, [[0.5, 0.5, 0.75, 1.0]]])  # noqa: E731 - the object, another
    flips = 0
    for batch in data.detection_dataset(one, 4, 3, seed=1, proposals=given, max_proposals=5).take(4):
        for boxes, rois in zip(batch["boxes"].numpy(), batch["proposals"].numpy()):
            np.testing.assert_allclose(rois[0], boxes[0], atol=1e-6)  # the object's proposal is still on it
            flipped = rois[0, 1] > 0.5
            np.testing.assert_allclose(rois[1], [0.5, 0.0, 0.75, 0.5] if flipped else [0.5, 0.5, 0.75, 1.0],
                                       atol=1e-6)
            assert not rois[2:].any()  # padding stays padding
            flips += flipped
    assert 0 < flips < 16


def test_fast_rcnn_trains_on_given_proposals_and_detects_with_any_count():
    model = fast_rcnn.FastRCNN(fast_rcnn.get_config("tiny"))
    model.compile()
    assert set(model.networks()) == {"backbone", "head"}
    scenes = [data.render_scene(np.random.default_rng([2, i]), 96) for i in range(4)]
    batch = {"images": tf.constant(np.stack([s[0] for s in scenes]))}
    padded = [data.pad_objects(s[1], s[2], 8) for s in scenes]
    batch["boxes"] = tf.constant(np.stack([p[0] for p in padded]))
    batch["classes"] = tf.constant(np.stack([p[1] for p in padded]))
    batch["proposals"] = tf.constant(np.stack([data.pad_proposals(proposals.selective_search(s[0]), 128)
                                               for s in scenes]))
    losses = [float(model.train_step(batch)["loss"]) for _ in range(20)]
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0], losses
    out = model.detect(batch["images"], batch["proposals"][:, :7])
    assert out["detection_boxes"].shape == (4, 100, 4)
    none = model.detect(batch["images"][:1], tf.zeros([1, 0, 4]))  # no proposals: nothing detected
    assert float(none["num_detections"][0]) == 0


def test_faster_rcnn_is_fast_rcnn_with_an_rpn():
    fast, faster = fast_rcnn.get_config("tiny"), faster_rcnn.get_config("tiny")
    assert isinstance(faster, fast_rcnn.FastRCNNConfig) and faster.roi_batch == fast.roi_batch
    # each paper's own thresholds: Fast R-CNN's background from IoU 0.1 and NMS at 0.3
    assert (fast.roi_negative_iou, fast.nms_iou) == (0.1, 0.3) and (faster.roi_negative_iou, faster.nms_iou) == (0, 0.5)
    paper = fast_rcnn.FastRCNN(fast_rcnn.get_config("paper", num_classes=20))
    # VGG16's 14.7M convolutions, fc6 25088 x 4096, fc7, the two outputs: Fast R-CNN's VGG16 network (~134M)
    assert 134_000_000 < sum(n.count_params() for n in paper.networks().values()) < 135_000_000
