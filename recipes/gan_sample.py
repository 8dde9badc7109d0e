"""Draws images from an exported GAN generator (any of gan, dcgan, wgan, wgan_gp, pggan).

    python -m recipes.gan_sample saved_models/dcgan/1 --output samples.png
    python -m recipes.gan_sample saved_models/pggan/2 --latents z.npy --output z.png

The export is called through its ``serving_default`` signature, as
TensorFlow Serving would call it; the latents are either drawn from N(0, 1)
with --seed or read from a .npy file of shape [N, latent_dim]. The grid is
written as a PNG (to a temporary file first, then renamed).
"""
import argparse
import os

from suite.training.runner import exit_on_error


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.gan_sample", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("export", help="an exported generator: saved_models/NAME/VERSION")
    p.add_argument("--output", default="samples.png", help="PNG file for the grid of samples")
    p.add_argument("--num-images", type=int, default=64, help="images to draw (without --latents)")
    p.add_argument("--latents", default=None, help=".npy file of latents [N, latent_dim] (float32)")
    p.add_argument("--columns", type=int, default=8, help="images per row of the grid")
    p.add_argument("--cell", type=int, default=64, help="upscale each image to about this many pixels (nearest)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents drawn without --latents")
    args = p.parse_args(argv)
    for name in ("num_images", "columns", "cell"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    return args


def load_generator(path):
    """(signature, latent_dim) of an exported generator; ValueError naming ``path`` if it is not one."""
    import tensorflow as tf

    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{path}: not a SavedModel directory (no saved_model.pb)")
    model = tf.saved_model.load(path)
    signature = model.signatures.get("serving_default")
    inputs = {} if signature is None else signature.structured_input_signature[1]
    if "latents" not in inputs or "images" not in signature.structured_outputs:
        raise ValueError(f"{path}: serving_default does not map 'latents' to 'images'; not a GAN generator export")
    latent_dim = inputs["latents"].shape[-1]
    signature._model = model  # keep the loaded object (and its variables) alive
    return signature, int(latent_dim)


def read_latents(path, latent_dim):
    import numpy as np

    try:
        latents = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"--latents {path}: not a readable .npy array ({e})") from e
    if latents.ndim != 2 or latents.shape[1] != latent_dim:
        raise ValueError(f"--latents {path}: shape {tuple(latents.shape)}, but the generator takes latents of "
                         f"shape [N, {latent_dim}]")
    if not np.issubdtype(latents.dtype, np.floating) or not np.all(np.isfinite(latents)):
        raise ValueError(f"--latents {path}: needs finite floating-point values, got dtype {latents.dtype}")
    return latents.astype(np.float32)


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf

    from suite.gan.callbacks import image_grid

    signature, latent_dim = load_generator(args.export)
    if args.latents:
        latents = read_latents(args.latents, latent_dim)
    else:
        latents = np.random.default_rng(args.seed).standard_normal((args.num_images, latent_dim)).astype(np.float32)
    images = np.concatenate([signature(latents=tf.constant(latents[i:i + 256]))["images"].numpy()
                             for i in range(0, len(latents), 256)])
    grid = image_grid(images, columns=args.columns, cell=args.cell)
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(args.output)}.tmp-{os.getpid()}")
    tf.io.write_file(tmp, tf.io.encode_png(grid))
    os.replace(tmp, args.output)
    print(f"wrote {len(images)} samples ({images.shape[1]}x{images.shape[2]}) to {args.output}")
    return images


if __name__ == "__main__":
    exit_on_error(main)
