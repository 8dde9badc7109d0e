"""The GAN family side by side: every variant trained for the same budget on the same data.

    python -m benchmarks gans [--preset small] [--steps 2000] [--output gans.md]

Each variant runs its own recipe (``recipes.gan``, ``recipes.dcgan``,
``recipes.wgan``, ``recipes.wgan --gradient-penalty 10``, and the original
GAN with the saturating minimax generator loss) in a subprocess, for the same
number of generator updates with the paper's hyper-parameters and the same
seed, then the table compares the final generators on held-out real images:
sliced Wasserstein distance (x1e3, lower is better), MS-SSIM between pairs of
samples (lower is more diverse; the real images' own value is the target, a
collapsed generator scores near 1), on the embedded scenes the embedded FID
and the fraction of samples in which its classifier finds a shape and a
background (``suite.gan.quality``; the reals' own fraction in brackets), the
real images each variant consumed per second of training, and that speed as a
ratio to DCGAN's in the same run.
"""
import argparse
import os
import sys
import tempfile
import time

from benchmarks import report, run_recipe

RUNS = {
    "gan": ("GAN (MLP, maxout D, non-saturating G loss)", ["recipes.gan"]),
    "gan_minimax": ("GAN with the saturating minimax G loss", ["recipes.gan", "--g-loss", "minimax"]),
    "dcgan": ("DCGAN", ["recipes.dcgan"]),
    "wgan": ("WGAN (clipping 0.01, 5 critic steps)", ["recipes.wgan"]),
    "wgan_gp": ("WGAN-GP (lambda 10, 5 critic steps)", ["recipes.wgan", "--gradient-penalty", "10"]),
}


def run_variant(key, args, workdir):
    _, command = RUNS[key]
    epochs = max(1, args.steps // args.steps_per_epoch)
    cmd = ["-m", *command, "--preset", args.preset, "--data", args.data, "--seed", str(args.seed),
           "--epochs", str(epochs), "--steps-per-epoch", str(args.steps_per_epoch),
           "--swd-images", str(args.swd_images), "--no-progress", *(["--no-quality"] if args.no_quality else []),
           "--logdir", os.path.join(workdir, "logs", key), "--export-dir", os.path.join(workdir, "export")]
    started = time.perf_counter()
    result = run_recipe(cmd, " ".join(command))
    result["process_seconds"] = time.perf_counter() - started
    return result


def table(rows, reference="dcgan"):
    ref = next((r["images_per_second"] for k, r in rows if k == reference), None)
    lines = ["| variant | G steps | real images seen | SWD x1e3 (untrained) | MS-SSIM (reals) | "
             "embedded FID (untrained) | scenes found (reals) | images/s | vs DCGAN | train time |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in rows:
        final = r["eval"]
        seen = r["images_per_second"] * r["train_seconds"]
        ratio = "-" if ref is None else f"{r['images_per_second'] / ref:.2f}x"
        quality = (f"{final['quality_fid']:.1f} ({r['initial']['quality_fid']:.1f}) | "
                   f"{final['found']:.2f} ({final['found_reals']:.2f})") if "quality_fid" in final else "- | -"
        lines.append(f"| {RUNS[key][0]} | {r['step']:,} | {seen:,.0f} | {final['swd']:.1f} ({r['initial']['swd']:.1f}) "
                     f"| {final['ms_ssim']:.3f} ({r['reals_ms_ssim']:.3f}) | {quality} "
                     f"| {r['images_per_second']:,.0f} | {ratio} "
                     f"| {r['train_seconds'] / 60:.1f} min |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks gans", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--variants", default=",".join(RUNS), help=f"comma-separated subset of {', '.join(RUNS)}")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "paper"))
    p.add_argument("--data", default="shapes", help="--data of the recipes")
    p.add_argument("--steps", type=int, default=2000, help="generator updates per variant (the same budget for all)")
    p.add_argument("--steps-per-epoch", type=int, default=200, help="steps between evaluations")
    p.add_argument("--swd-images", type=int, default=512, help="images compared per evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-quality", action="store_true",
                   help="leave out the embedded FID and found-rate columns")
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    keys = [k.strip() for k in args.variants.split(",") if k.strip()]
    unknown = [k for k in keys if k not in RUNS]
    if unknown:
        p.error(f"unknown variants {unknown}: choose from {', '.join(RUNS)}")
    if args.steps < 1 or args.steps_per_epoch < 1 or args.swd_images < 2:
        p.error("--steps and --steps-per-epoch must be positive, --swd-images at least 2")

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-gans-") as workdir:
        for key in keys:
            print(f"training {key} ...", file=sys.stderr, flush=True)
            result = run_variant(key, args, workdir)
            rows.append((key, result))
            print(f"  {key}: SWD {result['eval']['swd']:.1f}, MS-SSIM {result['eval']['ms_ssim']:.3f}, "
                  f"{result['images_per_second']:,.0f} img/s", file=sys.stderr, flush=True)
    text = (f"GAN family, preset={args.preset}, data={args.data}, {args.steps} generator steps each, seed {args.seed}\n\n"
            + table(rows))
    report(text, args.output)
    return rows


if __name__ == "__main__":
    main()
