"""Loading models: weights resolution, clear failures, the bounded cache, wrapping."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest

import cnnvis
from cnnvis.models import preprocessing
from cnnvis.errors import ParameterError, UnknownModelError, WeightsUnavailableError
from cnnvis.models.loading import ModelCache, ModelSpec, VisModel, get_spec, load_model

from .tiny import cam_model

SMALL = "MobileNetV3Small"  # the registry's smallest model: quick to build


@pytest.fixture
def small_weights(tmp_path):
    """A weights directory holding seeded weights for MobileNetV3Small."""
    keras.utils.set_random_seed(11)
    model = get_spec(SMALL).build()
    model.save_weights(str(tmp_path / f"{SMALL}.weights.h5"))
    return tmp_path, model


@pytest.mark.fullsize
def test_weights_directory_is_searched_first(small_weights, monkeypatch):
    directory, reference = small_weights
    loaded = load_model(SMALL, weights_dir=directory)
    assert loaded.weights.startswith("imagenet (") and str(directory) in loaded.weights
    for ours, theirs in zip(loaded.keras_model.weights, reference.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    # The environment variable works the same way, and the cache returns the same model.
    monkeypatch.setenv("CNNVIS_WEIGHTS_DIR", str(directory))
    assert load_model(SMALL) is loaded


@pytest.mark.fullsize
def test_weights_path_loads_that_file(small_weights):
    directory, reference = small_weights
    loaded = load_model(SMALL, weights=directory / f"{SMALL}.weights.h5")
    np.testing.assert_array_equal(
        np.asarray(loaded.keras_model.weights[0]), np.asarray(reference.weights[0])
    )
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_model(SMALL, weights=directory / "missing.weights.h5")


def test_offline_without_local_weights_names_model_and_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as error:
        load_model("DenseNet121", weights_dir=tmp_path)
    message = str(error.value)
    assert "DenseNet121" in message and "DenseNet121.weights.h5" in message
    assert "CNNVIS_WEIGHTS_DIR" in message and "\n" not in message


@pytest.mark.fullsize
def test_corrupt_or_mismatched_weights_are_refused_and_kept(tmp_path):
    corrupt = tmp_path / f"{SMALL}.weights.h5"
    corrupt.write_bytes(b"not an HDF5 file at all")
    with pytest.raises(WeightsUnavailableError, match=f"could not be loaded into {SMALL}"):
        load_model(SMALL, weights_dir=tmp_path)
    assert corrupt.read_bytes() == b"not an HDF5 file at all"  # never deleted

    other = tmp_path / "other"
    other.mkdir()
    get_spec(SMALL).build().save_weights(str(other / "MobileNetV3Large.weights.h5"))
    with pytest.raises(WeightsUnavailableError, match="MobileNetV3Large"):
        load_model("MobileNetV3Large", weights_dir=other)
    assert (other / "MobileNetV3Large.weights.h5").is_file()


@pytest.fixture(autouse=True)
def no_remembered_failures():
    yield
    for name in ("NASNetMobile", "ResNet50"):
        cnnvis.models.availability.forget_failure(name)


def test_download_failure_is_one_sentence_remembered_then_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIS_OFFLINE", "0")
    calls = []
    real_build = ModelSpec.build

    def failing_build(self, weights=None):
        if weights == "imagenet":
            calls.append(self.name)
            raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None -- boom")
        return real_build(self, weights)

    monkeypatch.setattr(ModelSpec, "build", failing_build)
    with pytest.raises(WeightsUnavailableError) as error:
        load_model("NASNetMobile", weights_dir=tmp_path)
    assert "URL fetch failure" not in str(error.value)
    assert "NASNetMobile" in str(error.value) and "could not be downloaded" in str(error.value)
    # Remembered for a while: the next request is told so at once, without the network.
    with pytest.raises(WeightsUnavailableError, match="failed a moment ago"):
        load_model("NASNetMobile", weights_dir=tmp_path)
    assert calls == ["NASNetMobile"]
    monkeypatch.setattr(cnnvis.models.availability, "FAILURE_MEMORY", 0.0)  # time passes: tried again
    with pytest.raises(WeightsUnavailableError, match="could not be downloaded"):
        load_model("NASNetMobile", weights_dir=tmp_path)
    assert calls == ["NASNetMobile", "NASNetMobile"]


def test_download_that_hangs_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIS_OFFLINE", "0")
    monkeypatch.setenv("CNNVIS_DOWNLOAD_TIMEOUT", "0.5")
    release = threading.Event()

    def hanging_build(self, weights=None):
        release.wait(30)
        raise Exception("never mind")

    monkeypatch.setattr(ModelSpec, "build", hanging_build)
    with pytest.raises(WeightsUnavailableError, match="took longer than"):  # not the build's own error
        load_model("ResNet50", weights_dir=tmp_path)
    release.set()


def test_unknown_model():
    with pytest.raises(UnknownModelError, match="no model called 'AlexNet'"):
        load_model("AlexNet")


class _Fake(VisModel):
    def __init__(self, name: str, nbytes: int) -> None:
        self.name = name
        self.__dict__["nbytes"] = nbytes


def test_cache_is_bounded_by_count_and_bytes():
    cache = ModelCache(max_models=2, max_bytes=100)
    cache.get(("a",), lambda: _Fake("a", 10))
    cache.get(("b",), lambda: _Fake("b", 10))
    cache.get(("a",), lambda: pytest.fail("a is cached"))  # a becomes most recent
    cache.get(("c",), lambda: _Fake("c", 10))
    assert cache.keys() == [("a",), ("c",)]  # b was least recently used
    cache.get(("big",), lambda: _Fake("big", 95))
    assert cache.keys() == [("big",)]  # 10 + 95 > 100 bytes: the older one goes
    cache.get(("huge",), lambda: _Fake("huge", 1000))
    assert cache.keys() == [("huge",)]  # the newest always stays
    with pytest.raises(ParameterError):
        ModelCache(max_models=0, max_bytes=1)


def test_concurrent_requests_build_a_model_once():
    cache = ModelCache(max_models=4, max_bytes=10**9)
    builds = []

    def build():
        builds.append(1)
        time.sleep(0.2)
        return _Fake("m", 1)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(("m",), build))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len({id(r) for r in results}) == 1


def test_wrap_model_accepts_keras_preprocess_functions():
    model = cnnvis.wrap_model(cam_model(), keras.applications.vgg16.preprocess_input)
    assert model.preprocessing.order == (2, 1, 0)
    np.testing.assert_allclose(model.preprocessing.offset, preprocessing.CAFFE.offset, atol=1e-3)
    densenet = cnnvis.wrap_model(cam_model(), keras.applications.densenet.preprocess_input)
    np.testing.assert_allclose(densenet.preprocessing.scale, preprocessing.TORCH.scale, rtol=1e-4)
    with pytest.raises(ParameterError, match="not a per-channel affine map"):
        cnnvis.wrap_model(cam_model(), lambda x: np.sqrt(x))
    with pytest.raises(ParameterError, match="Unknown preprocessing family"):
        cnnvis.wrap_model(cam_model(), "bgr")


def test_wrap_model_refuses_subclassed_models_and_raw_keras_models():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ParameterError, match="functional or Sequential"):
        cnnvis.wrap_model(Subclassed())
    with pytest.raises(ParameterError, match="wrap_model"):
        cnnvis.grad_cam(cam_model(), np.zeros((16, 16, 3), np.uint8))


def test_transfer_learning_model_with_a_nested_backbone():
    """A Sequential around a functional backbone: layers inside are reachable."""
    backbone = cam_model()
    features = keras.Model(backbone.input, backbone.get_layer("features").output, name="backbone")
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), features, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]
    )
    wrapped = cnnvis.wrap_model(model)
    assert wrapped.default_layer == "backbone"
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    inner = cnnvis.grad_cam(wrapped, image, layer="features", target_class=1).heatmap
    outer = cnnvis.grad_cam(wrapped, image, target_class=1).heatmap
    np.testing.assert_allclose(inner, outer, atol=1e-6)  # the backbone's output *is* "features"
    assert cnnvis.feature_maps(wrapped, image, "conv1")[0].shape == (16, 16, 8)
