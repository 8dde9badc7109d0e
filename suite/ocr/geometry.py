"""Polygon geometry of scene-text boxes (NumPy, for evaluation): areas, the intersection of convex
polygons (Sutherland-Hodgman clipping), IoU, and rotated rectangles (x, y, w, h, theta) as corners.

Word boxes are quadrilaterals (ICDAR 2015: four corners, clockwise from the top left) or rotated
rectangles (RRPN); both are convex, which the clipping needs. A polygon given counter-clockwise
is turned around first; a degenerate one (area 0) intersects nothing.
"""
import numpy as np


def area(polygon):
    """The signed area of ``polygon`` [K, 2] (x, y): positive when its corners run counter-clockwise
    in a y-up frame (clockwise on an image, where y points down)."""
    p = np.asarray(polygon, np.float64)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _oriented(polygon):
    p = np.asarray(polygon, np.float64)
    return p[::-1] if area(p) < 0 else p


def intersection(a, b):
    """The intersection polygon [M, 2] of convex polygons ``a`` and ``b`` (M = 0 when they do not meet):
    ``a`` clipped by each edge of ``b`` in turn."""
    out, clip = _oriented(a), _oriented(b)
    if abs(area(clip)) == 0:
        return np.zeros((0, 2))
    for k in range(len(clip)):
        if not len(out):
            break
        p, q = clip[k], clip[(k + 1) % len(clip)]
        edge = q - p
        side = edge[0] * (out[:, 1] - p[1]) - edge[1] * (out[:, 0] - p[0])  # >= 0: inside (left of the edge)
        kept = []
        for i in range(len(out)):
            j = (i + 1) % len(out)
            if side[i] >= 0:
                kept.append(out[i])
            if (side[i] >= 0) != (side[j] >= 0):  # the edge crosses the clipping line
                t = side[i] / (side[i] - side[j])
                kept.append(out[i] + t * (out[j] - out[i]))
        out = np.array(kept).reshape(-1, 2)
    return out


def intersection_area(a, b):
    return abs(area(intersection(a, b))) if len(a) and len(b) else 0.0


def iou(a, b):
    """Intersection over union of two convex polygons."""
    inter = intersection_area(a, b)
    union = abs(area(a)) + abs(area(b)) - inter
    return inter / union if union > 0 else 0.0


def rotated_corners(box):
    """(cx, cy, w, h, theta) -> its four corners [4, 2], theta in radians counter-clockwise on the
    image (y down: a positive angle lifts the right end), starting at the top left."""
    cx, cy, w, h, theta = (float(v) for v in box)
    c, s = np.cos(theta), np.sin(theta)
    local = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    # y down: rotating counter-clockwise as seen is x' = x c + y s, y' = -x s + y c
    return np.stack([cx + local[:, 0] * c + local[:, 1] * s, cy - local[:, 0] * s + local[:, 1] * c], -1)
