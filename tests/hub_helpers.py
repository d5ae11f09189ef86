"""Small keras-hub classifiers built from their configs (seeded, no download), and
independent references computed with keras-hub's own layers."""

from __future__ import annotations

import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is not installed (pip install 'cnnvis[hub]')")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnvis.images import resize_map  # noqa: E402

SIZE = 32
CLASSES = 5


def tf_preprocessor(family: str):
    """The family's own preprocessor with a 'tf' (-1..1) image converter."""
    converter = {
        "vit": keras_hub.layers.ViTImageConverter,
        "deit": keras_hub.layers.DeiTImageConverter,
        "swin": keras_hub.layers.SwinTransformerImageConverter,
    }[family](image_size=(SIZE, SIZE), scale=1 / 127.5, offset=-1.0)
    preprocessor = {
        "vit": keras_hub.models.ViTImageClassifierPreprocessor,
        "deit": keras_hub.models.DeiTImageClassifierPreprocessor,
        "swin": keras_hub.models.SwinTransformerImageClassifierPreprocessor,
    }[family]
    return preprocessor(image_converter=converter)


def build(family: str, *, seed: int = 0, classes: int = CLASSES, preprocessor: bool = True, **head):
    """A tiny seeded classifier: ViT or DeiT (32 px, 8 px patches: a 4 x 4 grid, 3 blocks)
    or Swin (32 px, 4 px patches, two stages of two blocks: 8 x 8 then 4 x 4)."""
    keras.utils.set_random_seed(seed)
    if family == "vit":
        backbone = keras_hub.models.ViTBackbone(
            image_shape=(SIZE, SIZE, 3), patch_size=8, num_layers=3, num_heads=2, hidden_dim=16, mlp_dim=32
        )
        cls = keras_hub.models.ViTImageClassifier
    elif family == "deit":
        backbone = keras_hub.models.DeiTBackbone(
            image_shape=(SIZE, SIZE, 3), patch_size=8, num_layers=3, num_heads=2, hidden_dim=16, intermediate_dim=32
        )
        cls = keras_hub.models.DeiTImageClassifier
    else:
        backbone = keras_hub.models.SwinTransformerBackbone(
            image_shape=(SIZE, SIZE, 3), embed_dim=8, depths=[2, 2], num_heads=[2, 2], window_size=4,
            patch_size=4, drop_path=0.0,
        )
        cls = keras_hub.models.SwinTransformerImageClassifier
    return cls(
        backbone=backbone,
        num_classes=classes,
        preprocessor=tf_preprocessor(family) if preprocessor else None,
        **head,
    )


def reference_tokens(classifier, family: str, inputs, block: int):
    """(logits, tokens at the output of block ``block`` (0-based, blocks of all stages
    counted in order; -1: the backbone's final norm)), computed eagerly by calling
    keras-hub's own layers one after another, on preprocessed ``inputs``, under a tape
    that watches the tokens: the gradient reference."""
    backbone = classifier.backbone
    tape = tf.GradientTape(persistent=True)
    kept = []

    def mark(x):
        tape.watch(x)
        kept.append(x)
        return x

    with tape:
        if family in ("vit", "deit"):
            embedding, encoder = backbone.layers[1], backbone.layers[2]
            x = embedding(inputs)
            for index, layer in enumerate(encoder.encoder_layers):
                x = layer(x) if family == "vit" else layer(x)[0]
                if index == block:
                    x = mark(x)
            x = encoder.layer_norm(x)
            if block == -1:
                x = mark(x)
            logits = classifier.output_dense(x[:, 0])
        else:
            x = backbone.get_layer("patch_embedding")(inputs)
            index = 0
            for stage in (backbone.get_layer("stage_0"), backbone.get_layer("stage_1")):
                for layer in stage.blocks:
                    x = layer(x)
                    if index == block:
                        x = mark(x)
                    index += 1
                if stage.downsample is not None:
                    h, w = stage.input_resolution
                    x = stage.downsample(x, H=h, W=w)
            x = backbone.get_layer("norm")(x)
            if block == -1:
                x = mark(x)
            logits = classifier.output_dense(keras.ops.mean(x, axis=1))
    return tape, logits, kept[0]


def reference_grad_cam(classifier, family: str, pixels: np.ndarray, block: int, prefix: int, size) -> np.ndarray:
    """Grad-CAM from the token reference: the gradient of the top logit at the tokens,
    prefix tokens dropped, patch tokens reshaped to their square grid, channel weights
    = the mean gradient, ReLU of the weighted sum, scaled to [0, 1], resized to ``size``."""
    inputs = tf.constant(pixels / 127.5 - 1.0, tf.float32)
    tape, logits, tokens = reference_tokens(classifier, family, inputs, block)
    top = int(np.argmax(logits.numpy()[0]))
    with tape:
        score = logits[0, top]
    grads = tape.gradient(score, tokens).numpy()[0, prefix:]
    values = tokens.numpy()[0, prefix:]
    side = int(round(np.sqrt(values.shape[0])))
    grads, values = grads.reshape(side, side, -1), values.reshape(side, side, -1)
    cam = np.maximum((values * grads.mean(axis=(0, 1))).sum(axis=-1), 0.0)
    cam = cam / cam.max() if cam.max() > 0 else cam
    return resize_map(cam.astype(np.float32), size)


def decisive_patch_data(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise photos (32 x 32, grey levels 48-208) whose class is decided by one 8 x 8 region (rows 8-15,
    columns 16-23): white for class 1, black for class 0."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(48, 208, (count, SIZE, SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, 2, count)
    images[:, 8:16, 16:24, :] = np.where(labels[:, None, None, None] == 1, 255.0, 0.0)
    return images, labels


REGION = (slice(8, 16), slice(16, 24))


def train_decisive_swin(seed: int = 0, epochs: int = 6):
    """A two-block Swin (8 x 8 grid, 4 x 4 windows, global average pooling) trained in
    seconds on :func:`decisive_patch_data`. Windowed attention keeps evidence local, so
    the region that decides the class is the region a faithful map must show."""
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.SwinTransformerBackbone(
        image_shape=(SIZE, SIZE, 3), embed_dim=8, depths=[2], num_heads=[2], window_size=4,
        patch_size=4, drop_path=0.0,
    )
    classifier = keras_hub.models.SwinTransformerImageClassifier(
        backbone=backbone, num_classes=2, preprocessor=tf_preprocessor("swin")
    )
    images, labels = decisive_patch_data(384, seed)
    inputs, targets = tf.constant(images / 127.5 - 1.0), tf.constant(labels)
    optimizer = keras.optimizers.Adam(1e-2)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, classifier(x), from_logits=True)
            )
        variables = classifier.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for _ in range(epochs):
        for start in range(0, len(images), 64):
            step(inputs[start : start + 64], targets[start : start + 64])
    return classifier
