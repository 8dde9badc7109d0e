"""GANs: the shared training mechanism (gan.py), losses, metrics, and PGGAN."""
