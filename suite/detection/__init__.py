"""Object detection: Faster R-CNN (RPN, RoI pooling, Fast R-CNN head) and YOLO v1.

- models: ``faster_rcnn.py``, ``yolo.py``, backbones ``backbones.py``; box maths, anchors and
  sampling: ``boxes.py``; mAPs: ``metrics.py``; evaluation, drawn boxes, serving: ``training.py``
- data: ``suite/data/detection.py`` (embedded scenes, PASCAL VOC, COCO, TFDS readers)
- layers: ``suite/layers/detection.py`` (RoI pooling / RoIAlign, image preprocessing)
- recipes: ``recipes/faster_rcnn.py``, ``recipes/yolo.py`` (shared: ``recipes/_detection.py``);
  benchmark: ``benchmarks/detection.py``; tests: ``tests/test_detection.py``, ``tests/test_recipe_detection.py``
"""
