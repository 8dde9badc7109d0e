"""Human action recognition: single-frame, late/early/slow fusion, two-stream."""
