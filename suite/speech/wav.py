"""WAV files decoded in TensorFlow ops alone, for serving graphs: ``tf.audio.decode_wav`` reads 16-bit
PCM only, and TensorFlow Serving loads no tensorflow-io kernels. Reads 8-, 16-, 24- and 32-bit integer
PCM and 32-bit float, any number of channels, WAVE_FORMAT_EXTENSIBLE included."""
import tensorflow as tf

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
_STREAMING = (0, 0xFFFFFFFF)  # data sizes a streaming writer leaves: the samples run to the end of the file


def _uint(data, offset, size):
    """The little-endian unsigned integer of ``size`` bytes at ``offset`` (int64)."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, size), tf.uint8), tf.int64)
    return tf.reduce_sum(raw * tf.constant([256 ** k for k in range(size)], tf.int64)[:tf.size(raw)])


def _check(condition, what, text):
    return tf.debugging.Assert(condition, [tf.strings.join([what, ": " + text])])


def decode_wav(data, what="wav"):
    """(mono float32 [T] in [-1, 1] (channels averaged), sample rate int32) of one WAV file's bytes;
    an InvalidArgumentError beginning with ``what`` (a string or string tensor naming the input) for
    a file that is not a whole WAV of those formats."""
    length = tf.cast(tf.strings.length(data), tf.int64)
    riff = (length >= 12) & tf.equal(tf.strings.substr(data, 0, 4), "RIFF") & \
        tf.equal(tf.strings.substr(data, 8, 4), "WAVE")
    with tf.control_dependencies([_check(riff, what, "not a WAV file (no RIFF/WAVE header)")]):
        start = tf.identity(tf.constant(12, tf.int64))

    def more(offset, fmt, dat):
        return (offset + 8 <= length) & ((fmt < 0) | (dat < 0))

    def chunk(offset, fmt, dat):
        name, size = tf.strings.substr(data, offset, 4), _uint(data, offset + 4, 4)
        fmt = tf.where(tf.equal(name, "fmt ") & (fmt < 0), offset, fmt)
        dat = tf.where(tf.equal(name, "data") & (dat < 0), offset, dat)
        size = tf.where(tf.equal(name, "data") & (size == _STREAMING[1]), length - offset - 8, size)
        return offset + 8 + size + size % 2, fmt, dat

    _, fmt, dat = tf.while_loop(more, chunk, (start, tf.constant(-1, tf.int64), tf.constant(-1, tf.int64)))
    found = (fmt >= 0) & (dat >= 0) & (fmt + 24 <= length)
    with tf.control_dependencies([_check(found, what, "not a whole WAV file (no fmt or data chunk)")]):
        fmt = tf.identity(fmt)
    code, channels, rate, bits = (_uint(data, fmt + 8, 2), _uint(data, fmt + 10, 2), _uint(data, fmt + 12, 4),
                                  _uint(data, fmt + 22, 2))
    code = tf.where(tf.equal(code, EXTENSIBLE), _uint(data, fmt + 32, 2), code)  # the sub-format's first 2 bytes
    declared, available = _uint(data, dat + 4, 4), length - dat - 8
    streaming = tf.reduce_any(tf.equal(declared, tf.constant(_STREAMING, tf.int64)))
    size = tf.where(streaming, available, declared)
    supported = (tf.equal(code, PCM) & tf.reduce_any(tf.equal(bits, [8, 16, 24, 32]))) | \
        (tf.equal(code, FLOAT) & tf.equal(bits, 32))
    checks = [_check(supported & (channels > 0) & (rate > 0), what,
                     "unsupported WAV format (read: integer PCM of 8, 16, 24 or 32 bits, or 32-bit float)"),
              _check(size <= available, what, "truncated WAV file (its data chunk runs past the end)")]
    with tf.control_dependencies(checks):
        block = tf.maximum(channels * bits // 8, 1)
        raw = tf.strings.substr(data, dat + 8, size // block * block)

    def pcm8():
        return (tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.float32) - 128.0) / 128.0

    def pcm16():
        return tf.cast(tf.io.decode_raw(raw, tf.int16, little_endian=True), tf.float32) / 32768.0

    def pcm24():
        b = tf.reshape(tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.int32), [-1, 3])
        v = b[:, 0] + b[:, 1] * 256 + b[:, 2] * 65536
        return tf.cast(tf.where(v >= 2 ** 23, v - 2 ** 24, v), tf.float32) / 2.0 ** 23

    def pcm32():
        return tf.cast(tf.io.decode_raw(raw, tf.int32, little_endian=True), tf.float32) / 2.0 ** 31

    def float32():
        return tf.io.decode_raw(raw, tf.float32, little_endian=True)

    branch = tf.where(tf.equal(code, FLOAT), 4, tf.cast(bits // 8 - 1, tf.int32))
    samples = tf.switch_case(tf.cast(branch, tf.int32), [pcm8, pcm16, pcm24, pcm32, float32])
    audio = tf.reduce_mean(tf.reshape(samples, [-1, tf.cast(channels, tf.int32)]), axis=1)
    return audio, tf.cast(rate, tf.int32)
