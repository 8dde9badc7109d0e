"""Scene-text detection geometry and evaluation (suite/ocr/geometry.py, suite/ocr/metrics.py): polygon
intersection against OpenCV, rotated rectangles, and the ICDAR 2015 protocol on hand-made cases;
the ICDAR 2013/2015 ground-truth readers (suite/data/ocr.py)."""
import math

import numpy as np
import pytest

from suite.data import ocr as data
from suite.data.errors import DataError
from suite.ocr import geometry
from suite.ocr.metrics import Word, evaluate


def test_polygon_intersection_matches_opencv_on_random_rotated_rectangles():
    import cv2

    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(300):
        boxes = [(rng.uniform(20, 80), rng.uniform(20, 80), rng.uniform(5, 60), rng.uniform(5, 40),
                  rng.uniform(-math.pi, math.pi)) for _ in range(2)]
        a, b = (geometry.rotated_corners(box) for box in boxes)
        kind, region = cv2.rotatedRectangleIntersection(
            *[((x, y), (w, h), -math.degrees(t)) for x, y, w, h, t in boxes])
        expected = 0.0 if kind == cv2.INTERSECT_NONE else cv2.contourArea(cv2.convexHull(region))
        worst = max(worst, abs(geometry.intersection_area(a, b) - expected) / (w_h := boxes[0][2] * boxes[0][3]))
        # OpenCV's corners agree with ours (its angle is clockwise on the image)
        corners = cv2.boxPoints(((boxes[0][0], boxes[0][1]), (boxes[0][2], boxes[0][3]), -math.degrees(boxes[0][4])))
        assert abs(cv2.contourArea(corners) - w_h) < 1e-3 * w_h
        assert geometry.iou(a, a) == pytest.approx(1.0)
    assert worst < 1e-3, worst  # OpenCV computes in float32


def test_hand_made_overlaps_and_orientation():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    shifted = square + [5, 0]
    assert geometry.iou(square, shifted) == pytest.approx(50 / 150)
    assert geometry.iou(square, shifted[::-1]) == pytest.approx(50 / 150)  # either winding
    assert geometry.iou(square, square + [20, 0]) == 0.0
    assert geometry.intersection_area(square, np.array([[2, 2], [4, 2], [4, 4], [2, 4]])) == pytest.approx(4)
    # a 90-degree turn of a 20x10 box about its centre: the overlap is the 10x10 middle
    flat = geometry.rotated_corners((50, 50, 20, 10, 0.0))
    upright = geometry.rotated_corners((50, 50, 20, 10, math.pi / 2))
    assert geometry.intersection_area(flat, upright) == pytest.approx(100)
    lifted = geometry.rotated_corners((0, 0, 2, 0, 0.1))  # a positive angle lifts the right end (y down)
    assert lifted[1, 1] < 0 < lifted[0, 1]


def _box(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def test_icdar2015_protocol_on_hand_made_cases():
    truth = [Word(_box(0, 0, 100, 20), "hello"), Word(_box(0, 50, 100, 70), "world"), Word(_box(200, 0, 260, 20), "###")]
    # IoU just above 0.5 (x1 = 100 -> 67: 67/100) and just below (a box 100 x 20 shifted by 34: 66/134)
    above = Word(_box(0, 0, 67.5, 20), "hello")
    below = Word(_box(34, 50, 134, 70), "world")
    inside_dont_care = Word(_box(205, 2, 250, 18))
    r = evaluate([truth], [[above, below, inside_dont_care]])
    assert r == {"precision": 0.5, "recall": 0.5, "f": 0.5}  # the do-not-care detection is not counted
    # one to one: two detections on one word, one matches; a detection over two words matches neither
    twice = evaluate([truth], [[Word(_box(0, 0, 100, 20)), Word(_box(1, 0, 100, 20))]])
    assert twice["recall"] == 0.5 and twice["precision"] == 0.5
    merged = evaluate([truth[:2]], [[Word(_box(0, 0, 100, 70))]])
    assert merged["recall"] == 0.0 and merged["f"] == 0.0
    # end to end: the box matches, the word must too (case-insensitive)
    read = [Word(_box(0, 0, 100, 20), "HELLO"), Word(_box(0, 50, 100, 70), "word")]
    assert evaluate([truth], [read], end_to_end=True) == {"precision": 0.5, "recall": 0.5, "f": 0.5}
    assert evaluate([truth], [read])["f"] == 1.0
    # summed over images, not averaged
    two = evaluate([truth, truth[:1]], [[Word(_box(0, 0, 100, 20))], []])
    assert two["recall"] == pytest.approx(1 / 3) and two["precision"] == 1.0
    with pytest.raises(ValueError, match="2 images of ground truth, 1 of detections"):
        evaluate([truth, truth], [[]])


def test_icdar_ground_truth_readers(tmp_path):
    gt13 = tmp_path / "gt_img_1.txt"
    gt13.write_bytes('\ufeff38, 43, 920, 215, "Tiredness"\n275 264 665 450 "kills"\n'.encode("utf-8"))
    words = data.read_icdar_gt(str(gt13))
    assert [w.text for w in words] == ["Tiredness", "kills"]
    assert words[0].polygon.tolist() == [[38, 43], [920, 43], [920, 215], [38, 215]]
    gt15 = tmp_path / "gt_img_2.txt"
    gt15.write_bytes("\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\n374,155,409,155,409,170,374,170,###\n"
                     "1,2,3,4,5,6,7,8,a,b\n".encode("utf-8"))
    words = data.read_icdar_gt(str(gt15))
    assert [w.text for w in words] == ["Genaxis Theatre", "###", "a,b"] and words[1].dont_care
    assert words[0].polygon.shape == (4, 2) and words[0].polygon[2].tolist() == [465, 130]
    (tmp_path / "bad.txt").write_text("1,2,3,4,5,6,7,8,ok\n1,2,3,x,5,6,7,8,bad\n")
    with pytest.raises(DataError, match=r"bad.txt:2: expected 4 corners .*or x1 y1 x2 y2"):
        data.read_icdar_gt(str(tmp_path / "bad.txt"))
