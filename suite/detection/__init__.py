"""Object detection: Fast R-CNN (RoI pooling on given proposals), Faster R-CNN (its RPN added) and YOLO v1.

- models: ``fast_rcnn.py``, ``faster_rcnn.py``, ``yolo.py``, backbones ``backbones.py``; selective search
  and proposal files: ``proposals.py``; box maths, anchors and sampling: ``boxes.py``; mAPs:
  ``metrics.py``; evaluation, drawn boxes, serving: ``training.py``
- data: ``suite/data/detection.py`` (embedded scenes, PASCAL VOC, COCO, TFDS readers)
- layers: ``suite/layers/detection.py`` (RoI pooling / RoIAlign, image preprocessing)
- recipes: ``recipes/fast_rcnn.py``, ``recipes/faster_rcnn.py``, ``recipes/yolo.py`` (shared: ``recipes/_detection.py``);
  benchmark: ``benchmarks/detection.py``; tests: ``tests/test_detection.py``, ``tests/test_detection_fast_rcnn.py``,
  ``tests/test_recipe_detection.py``
"""
