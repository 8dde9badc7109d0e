"""Scene text: character sets (charset.py), CRNN recognition (crnn.py, recognition.py), polygon
geometry (geometry.py) and the ICDAR 2015 evaluation (metrics.py). Detection (CTPN, RRPN, EAST) is
to come (issue 21)."""
