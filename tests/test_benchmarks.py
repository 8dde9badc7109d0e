"""The benchmarks run: serving.py (each export signature's latency against its network's, batch 1 and
32), gans.py (the GAN family's table) and flow.py (optical flow against the true flow), on the smallest
settings."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python


def test_requests_are_repeated_to_the_batch_and_a_sampler_draws_as_many():
    from benchmarks.serving import batched

    specs = [tf.TensorSpec([None, 4], tf.float32, name="x"), tf.TensorSpec([], tf.int32, name="count"),
             tf.TensorSpec([], tf.int64, name="seed"), tf.TensorSpec([None], tf.string, name="s")]
    x, count, seed, s = batched(specs, [np.arange(4.0)[None], 1, 7, [b"a"]], 3)
    assert x.shape == (3, 4) and (x == np.arange(4.0)).all() and count == 3 and seed == 7
    assert s.tolist() == [b"a"] * 3


def test_the_benchmark_times_every_signature_and_its_network():
    out = run_python(["-m", "benchmarks", "serving", "--kinds", "dcgan", "--repeats", "2"]).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| dcgan")]
    assert [(r[1].strip(), r[2].strip()) for r in rows] == [("serving_default", "1"), ("serving_default", "32"),
                                                            ("generate", "1"), ("generate", "32")]
    assert all(float(r[3]) > 0 and float(r[4]) > 0 and r[5].strip().endswith("x") for r in rows)


@pytest.mark.slow  # two recipe runs in subprocesses (the quality classifier is the shipped 16x16 one: no training)
def test_the_gan_benchmark_tables_each_variant():
    out = run_python(["-m", "benchmarks", "gans", "--preset", "tiny", "--steps", "2", "--steps-per-epoch", "2",
                      "--swd-images", "16", "--variants", "dcgan,gan"]).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "G steps" not in line]
    assert [r[0].strip().split(" ")[0] for r in rows] == ["DCGAN", "GAN"] and all(r[1].strip() == "2" for r in rows)
    assert rows[0][8].strip() == "1.00x"  # the reference's own ratio
    assert all(float(r[5].split("(")[0]) > 0 for r in rows)  # the embedded FID (its untrained one in brackets)


def test_the_flow_benchmark_tables_each_method_against_the_true_flow():
    out = run_python(["-m", "benchmarks", "flow", "--sizes", "24", "--videos", "4"]).stdout
    rows = {r[1].strip(): r for r in (line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| 24x24"))}
    assert list(rows) == ["no motion", "Farneback (OpenCV)", "in-graph Lucas-Kanade"]
    assert float(rows["no motion"][4]) == 0.0 and float(rows["no motion"][3]) > 0.3  # the truth moves the object
    assert rows["Farneback (OpenCV)"][6].strip() == "1.00x" and rows["in-graph Lucas-Kanade"][6].strip().endswith("x")
    # a method that found no motion would err as much as "no motion" on the object
    assert float(rows["in-graph Lucas-Kanade"][3]) < float(rows["no motion"][3])


@pytest.mark.slow  # a recipe run in a subprocess per allocator
def test_the_allocator_benchmark_tables_each_installed_allocator_with_the_same_figures():
    import os

    from benchmarks.allocator import LIBRARIES

    out = run_python(["-m", "benchmarks", "allocator", "--runs", "cbow", "--repeats", "1"]).stdout
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines() if line.startswith("| cbow")]
    assert [r[1] for r in rows] == ["glibc", *(k for k, v in LIBRARIES.items() if os.path.isfile(v))]
    assert rows[0][4:6] == ["1.00", "1.00"] and all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)
    assert all(r[6] == "yes" for r in rows), rows  # an allocator changes no arithmetic
    refused = run_python(["-m", "benchmarks", "allocator", "--runs", "bert"], check=False)
    assert refused.returncode == 2 and "--runs bert: choose from cbow, ctpn, ds2, mtdnn" in refused.stderr
