"""The Keras Siamese network: twin branches with shared weights, L1 distance, a sigmoid unit.

This is the seed project's design (Koch et al.'s one-shot Siamese net), kept as it was; what
changed is the branch. Three branches are available:

* ``resnet29`` — dlib's 29-layer metric ResNet (150×150 RGB → 128-d), filled with dlib's published
  weights by :mod:`converter.dlib_import` (affines folded into the convs).
* ``koch`` — the seed's own convolutional net (100×100), the baseline row in every table.
* ``compact`` — a MobileFaceNet-style depthwise net (112×112, < 1.5 M parameters) for distillation.

Every branch takes raw uint8-range pixels (RGB) and scales them inside the graph, so the int8
model on the device is fed raw pixels.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from converter.dlib_import import INPUT_MEAN_RGB, INPUT_SCALE

BRANCH_INPUT = {"resnet29": 150, "koch": 100, "compact": 112}


@keras.saving.register_keras_serializable(package="siamese_edge")
class PixelScaling(layers.Layer):
    """``(x − mean) · scale`` per channel: the branch's own input normalisation, inside the graph."""

    def __init__(self, mean=(0.0, 0.0, 0.0), scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(v) for v in mean)
        self.scale = float(scale)

    def call(self, x):
        return (ops.cast(x, "float32") - ops.convert_to_tensor(self.mean, "float32")) * self.scale

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "scale": self.scale}


@keras.saving.register_keras_serializable(package="siamese_edge")
class ChannelZeroPad(layers.Layer):
    """Append ``extra`` all-zero channels (dlib's add_prev zero-fills the narrower input)."""

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        self.extra = int(extra)

    def call(self, x):
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


@keras.saving.register_keras_serializable(package="siamese_edge")
class L1Distance(layers.Layer):
    """Element-wise ``|a − b|`` between the two branch outputs (the seed's merge, not a Lambda)."""

    def call(self, inputs):
        a, b = inputs
        return ops.abs(a - b)


@keras.saving.register_keras_serializable(package="siamese_edge")
class L2Normalize(layers.Layer):
    """Unit-length embeddings (used in training graphs; on the device this runs in numpy)."""

    def call(self, x):
        return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-12))


def _match(y, shortcut):
    """Zero-pad ``y`` and ``shortcut`` to a common shape, as dlib's add_prev does (bottom/right/channels)."""
    hy, wy, cy = y.shape[1:]
    hs, ws, cs = shortcut.shape[1:]
    h, w, c = max(hy, hs), max(wy, ws), max(cy, cs)
    out = []
    for t, (ht, wt, ct) in ((y, (hy, wy, cy)), (shortcut, (hs, ws, cs))):
        if (ht, wt) != (h, w):
            t = layers.ZeroPadding2D(((0, h - ht), (0, w - wt)))(t)
        if ct != c:
            t = ChannelZeroPad(c - ct)(t)
        out.append(t)
    return out


def _res_block(x, filters: int, down: bool, name: str):
    stride = 2 if down else 1
    y = layers.Conv2D(filters, 3, strides=stride, padding="valid" if down else "same", name=f"{name}_conv1")(x)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    shortcut = layers.AveragePooling2D(2, 2, padding="valid")(x) if down else x
    y, shortcut = _match(y, shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


RESNET29_STAGES = [(32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True)]
"""(filters, blocks, first block downsamples) per stage, exactly dlib's anet_type."""


def resnet29_branch(name: str = "resnet29") -> keras.Model:
    inp = keras.Input((150, 150, 3), name="image")
    x = PixelScaling(INPUT_MEAN_RGB, INPUT_SCALE)(inp)
    x = layers.Conv2D(32, 7, strides=2, padding="valid", name="stem_conv")(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(3, 2, padding="valid")(x)
    for s, (filters, blocks, down) in enumerate(RESNET29_STAGES):
        for b in range(blocks):
            x = _res_block(x, filters, down and b == 0, f"s{s}b{b}")
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, use_bias=False, name="embedding")(x)
    return keras.Model(inp, x, name=name)


def resnet29_conv_names(branch: keras.Model) -> list[str]:
    """Conv layer names in dlib's serialisation order (stem, then conv1/conv2 per block)."""
    return [layer.name for layer in branch.layers if isinstance(layer, layers.Conv2D)]


def koch_branch(name: str = "koch") -> keras.Model:
    """The seed's net (Koch et al. 2015 as adityajn105 used it), on 100×100 RGB crops."""
    inp = keras.Input((100, 100, 3), name="image")
    x = PixelScaling((0.0, 0.0, 0.0), 1 / 255.0)(inp)
    reg = keras.regularizers.l2(2e-4)
    x = layers.Conv2D(64, 10, activation="relu", kernel_regularizer=reg)(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(128, 7, activation="relu", kernel_regularizer=reg)(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(128, 4, activation="relu", kernel_regularizer=reg)(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(256, 4, activation="relu", kernel_regularizer=reg)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(4096, activation="sigmoid", kernel_regularizer=keras.regularizers.l2(1e-3), name="embedding")(x)
    return keras.Model(inp, x, name=name)


def _bottleneck(x, out_ch: int, expansion: int, stride: int):
    in_ch = x.shape[-1]
    y = layers.Conv2D(in_ch * expansion, 1, use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.PReLU(shared_axes=[1, 2])(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.PReLU(shared_axes=[1, 2])(y)
    y = layers.Conv2D(out_ch, 1, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if stride == 1 and in_ch == out_ch:
        y = layers.Add()([x, y])
    return y


def compact_branch(name: str = "compact", embedding: int = 128) -> keras.Model:
    """MobileFaceNet-style branch (Chen et al. 2018), 112×112 → 128-d, ≈1 M parameters."""
    inp = keras.Input((112, 112, 3), name="image")
    x = PixelScaling((127.5, 127.5, 127.5), 1 / 128.0)(inp)
    x = layers.Conv2D(64, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.PReLU(shared_axes=[1, 2])(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.PReLU(shared_axes=[1, 2])(x)
    for out_ch, expansion, repeats, stride in [(64, 2, 5, 2), (128, 4, 1, 2), (128, 2, 6, 1), (128, 4, 1, 2),
                                               (128, 2, 2, 1)]:
        for i in range(repeats):
            x = _bottleneck(x, out_ch, expansion, stride if i == 0 else 1)
    x = layers.Conv2D(512, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.PReLU(shared_axes=[1, 2])(x)
    x = layers.DepthwiseConv2D(x.shape[1], padding="valid", use_bias=False)(x)  # global depthwise conv
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(embedding, use_bias=False, name="embedding")(x)
    x = layers.BatchNormalization()(x)
    return keras.Model(inp, x, name=name)


BRANCHES = {"resnet29": resnet29_branch, "koch": koch_branch, "compact": compact_branch}


def build_siamese(branch: str | keras.Model = "resnet29", normalize: bool = True) -> keras.Model:
    """Two image inputs → one shared branch → L1 distance → ``Dense(1, sigmoid)``.

    ``normalize`` L2-normalises embeddings before the distance (the device does the same in
    numpy), which makes the head's weights independent of the branch's output scale.
    """
    net = BRANCHES[branch]() if isinstance(branch, str) else branch
    size = net.input_shape[1]
    a = keras.Input((size, size, 3), name="image_a")
    b = keras.Input((size, size, 3), name="image_b")
    ea, eb = net(a), net(b)
    if normalize:
        norm = L2Normalize(name="l2")
        ea, eb = norm(ea), norm(eb)
    d = L1Distance(name="l1")([ea, eb])
    out = layers.Dense(1, activation="sigmoid", name="head")(d)
    return keras.Model([a, b], out, name=f"siamese_{net.name}")


def branch_of(siamese: keras.Model) -> keras.Model:
    """The shared branch inside a Siamese model."""
    return next(layer for layer in siamese.layers if isinstance(layer, keras.Model))


def load_dlib_weights(branch: keras.Model, convs: list, fc) -> None:
    """Fill a ``resnet29`` branch from :func:`converter.dlib_import.folded_convs` output."""
    names = resnet29_conv_names(branch)
    if len(names) != len(convs):
        raise ValueError(f"branch has {len(names)} convs, weights have {len(convs)}")
    for name, (w, b) in zip(names, convs, strict=True):
        branch.get_layer(name).set_weights([w, b])
    branch.get_layer("embedding").set_weights([fc])
