"""Object detection: Faster R-CNN (RPN + RoI pooling + Fast R-CNN head) and YOLO v1."""
