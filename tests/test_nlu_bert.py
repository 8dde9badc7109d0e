"""Groundwork of the MT-DNN issue: the lexicon encoder and BERT pre-training (masked LM + next sentence)."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import nlu
from suite.nlu import bert, pretraining
from suite.nlu.lexicon import RESERVED, Lexicon, read_vocabulary, train_vocabulary


@pytest.fixture(scope="module")
def lexicon():
    docs = nlu.documents(300, seed=0)
    return Lexicon(train_vocabulary([s for d in docs for s in d], 256), 48)


def test_vocabulary_and_packing(lexicon, tmp_path):
    assert lexicon.vocabulary[:5] == list(RESERVED)
    x = lexicon.encode(tf.constant(["alice gave the ball to bob"]), tf.constant(["bob threw it"]))
    ids, segments, mask = (x[k].numpy()[0] for k in ("token_ids", "segment_ids", "padding_mask"))
    words = [lexicon.vocabulary[i] for i in ids[mask == 1]]
    first_sep = words.index("[SEP]")
    assert words[0] == "[CLS]" and words[-1] == "[SEP]"
    assert "".join(w.replace("##", "") for w in words[1:first_sep]) == "alicegavetheballtobob"
    assert list(segments[:first_sep + 1]) == [0] * (first_sep + 1) and set(segments[first_sep + 1:mask.sum()]) == {1}
    assert lexicon.encode(tf.constant("7"))["token_ids"].numpy()[1] == lexicon.unk_id  # no digit in the corpus
    path = tmp_path / "vocab.txt"
    train_vocabulary(["alice gave bob the ball"], 64, path=str(path))
    assert read_vocabulary(str(path))[:5] == list(RESERVED)
    (tmp_path / "bad.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match=r"bad.txt: lacks the reserved tokens \['\[PAD\]'"):
        read_vocabulary(str(tmp_path / "bad.txt"))
    with pytest.raises(ValueError, match="no such file"):
        read_vocabulary(str(tmp_path / "missing.txt"))


def test_core_tensorflow_tokenizer_and_packer_match_keras_hub(lexicon):
    """The serving-graph tokenizer (core TensorFlow ops) against keras-hub's WordPieceTokenizer and
    MultiSegmentPacker (tensorflow-text kernels): the same ids, segments and truncation."""
    import keras_hub

    texts = [s for d in nlu.documents(30, seed=5) for s in d] + [
        "Hello, world! It's a state-of-the-art test: don't stop.", "", "   ", "ALICE Gave", "zzzq unknownish",
        "a" * 150, "bob gave alice the red ball in the park " * 8]
    reference = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=lexicon.vocabulary, lowercase=True,
                                                        strip_accents=False)
    ours = lexicon.tokenize(tf.constant(texts)).to_list()
    theirs = [list(t) for t in reference(tf.constant(texts))]  # keras-hub returns a list of lists
    assert ours == theirs
    packer = keras_hub.layers.MultiSegmentPacker(lexicon.sequence_length, start_value=lexicon.cls_id,
                                                 end_value=lexicon.sep_id, pad_value=lexicon.pad_id)
    first, second = tf.constant(texts[:40]), tf.constant(texts[-40:][::-1])
    for segments in ((first,), (first, second)):
        got = lexicon.encode(*segments)
        token_ids, segment_ids = packer(tuple(reference(s) for s in segments))
        np.testing.assert_array_equal(got["token_ids"], token_ids)
        np.testing.assert_array_equal(got["segment_ids"], segment_ids)
    assert lexicon.encode(tf.constant("bob"))["token_ids"].shape == (lexicon.sequence_length,)


def test_paper_preset_is_bert_base():
    config = bert.get_config("paper")
    assert (config.num_layers, config.hidden_dim, config.num_heads, config.intermediate_dim) == (12, 768, 12, 3072)
    assert bert.build_backbone(config).count_params() == 109_482_240  # BERT-base, 110M
    assert config.kernel_stddev == 0.02  # BERT's initializer range at its own width


def test_narrow_encoders_draw_their_kernels_wider_and_keep_the_embeddings():
    import keras

    keras.utils.set_random_seed(0)
    config = bert.get_config("tiny", intermediate_dim=512)  # enough entries for a close estimate
    backbone = bert.build_backbone(config)
    truncated = 0.8796  # the standard deviation of a unit normal truncated at 2
    stds = {v.path: float(np.std(v.numpy())) for v in backbone.trainable_variables if len(v.shape) >= 2}
    ffn = [std for path, std in stds.items() if "feedforward_intermediate_dense/kernel" in path]
    assert config.kernel_stddev == pytest.approx(0.02 * np.sqrt(12)) and ffn
    assert all(std == pytest.approx(config.kernel_stddev * truncated, rel=0.05) for std in ffn), ffn
    token = [std for path, std in stds.items() if "token_embedding" in path]
    assert token and token[0] == pytest.approx(0.02 * truncated, rel=0.05)
    assert bert.get_config("tiny", initializer_range=0.02).kernel_stddev == 0.02
    with pytest.raises(ValueError, match="not a multiple of num_heads"):
        bert.get_config("tiny", hidden_dim=65)


def test_next_sentence_pairs_are_half_true():
    docs = nlu.documents(200, seed=0)
    pairs = pretraining.next_sentence_pairs(docs)
    labels = np.array([p[2] for p in pairs])
    assert 0.45 < labels.mean() < 0.55
    follows = {(d[i], d[i + 1]) for d in docs for i in range(len(d) - 1)}
    assert all((a, b) in follows for a, b, label in pairs if label)
    assert sum((a, b) in follows for a, b, label in pairs if not label) < 0.01 * len(pairs)
    with pytest.raises(ValueError, match="at least 2 documents"):
        pretraining.next_sentence_pairs(docs[:1])


def test_documents_file_errors_and_a_small_held_out_set(lexicon, tmp_path):
    from suite.data.errors import DataError

    with pytest.raises(DataError, match=f"--data {tmp_path}: no .txt file in the folder"):
        nlu.read_documents(str(tmp_path))
    # a folder: each file one document or more (an empty line between), a BOM accepted, short documents dropped
    (tmp_path / "a.txt").write_text("\ufeffAlice gave Bob a ball.\nBob kept it.\n\nOne line alone.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Carol sold a map.\nDave read it.\nErin lost it.\n")
    assert nlu.read_documents(str(tmp_path)) == [["Alice gave Bob a ball.", "Bob kept it."],
                                                  ["Carol sold a map.", "Dave read it.", "Erin lost it."]]
    (tmp_path / "c.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="c.txt: not UTF-8 text"):
        nlu.read_documents(str(tmp_path))
    # --skip-bad-files: the folder's bad file left out and named, the others read
    from suite.data.files import BadFiles

    bad = BadFiles(skip=True)
    assert len(nlu.read_documents(str(tmp_path), bad=bad)) == 2 and len(bad.skipped) == 1
    assert "c.txt: not UTF-8 text" in bad.skipped[0]
    with pytest.raises(DataError, match="c.txt: not UTF-8 text.*--skip-bad-files"):
        nlu.read_documents(str(tmp_path), bad=BadFiles())
    with pytest.raises(DataError, match="tfds:no_such_text_set: cannot load split .train. .*TFDS_DATA_DIR"):
        nlu.read_documents("tfds:no_such_text_set")
    # a held-out set smaller than one batch is still one (partial) batch, never an empty dataset
    config = bert.get_config("tiny")
    pairs = pretraining.next_sentence_pairs(nlu.documents(3, seed=1))
    batches = list(pretraining.pretraining_dataset(lexicon, pairs, config, 128, repeat=False))
    assert len(batches) == 1 and batches[0][1]["nsp"].shape[0] == len(pairs) < 128


def test_tfds_articles_become_documents_of_sentences():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):
        docs = nlu.tfds_documents("wikipedia/20230601.en")
        assert len(docs) == 5 and all(isinstance(s, str) and s for d in docs for s in d)
        assert len(nlu.tfds_documents("wikipedia/20230601.en", count=2)) == 2


def test_masking_rates(lexicon):
    config = bert.get_config("tiny", max_predictions=16)
    docs = nlu.documents(400, seed=3)
    ds = pretraining.pretraining_dataset(lexicon, pretraining.next_sentence_pairs(docs), config, 256, repeat=False)
    masked = selected = replaced_by_mask = kept = candidates = 0
    for inputs, targets, weights in ds.take(3):
        ids, pos, w = inputs["token_ids"].numpy(), inputs["mask_positions"].numpy(), weights["mlm"].numpy()
        real = targets["mlm"].numpy()
        special = np.isin(ids, [lexicon.pad_id, lexicon.cls_id, lexicon.sep_id])
        candidates += (~special).sum()
        for row in range(len(ids)):
            for p, t, wt in zip(pos[row], real[row], w[row]):
                if not wt:
                    continue
                selected += 1
                assert real[row].dtype.kind == "i" and t not in (lexicon.pad_id, lexicon.cls_id, lexicon.sep_id)
                replaced_by_mask += ids[row, p] == lexicon.mask_id
                kept += ids[row, p] == t
        masked += w.sum()
    rate = selected / candidates
    assert 0.12 < rate < 0.18, rate  # 15% of the selectable tokens
    assert 0.74 < replaced_by_mask / selected < 0.86  # 80% [MASK]
    assert 0.06 < kept / selected < 0.16  # 10% unchanged (+ random draws of the same id)


def test_warmup_then_linear_decay():
    from suite.training.optimizers import WarmupLinearDecay

    s = WarmupLinearDecay(1e-3, 10, 110)
    np.testing.assert_allclose([float(s(x)) for x in (0, 5, 10, 60, 110, 200)], [0, 5e-4, 1e-3, 5e-4, 0, 0],
                               atol=1e-9)
