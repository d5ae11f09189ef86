"""What the model picker says about each model: ready, downloadable (with its size) or
unavailable, read from the weights folder, Keras' cache and the memory of failures,
without loading or downloading anything."""

from __future__ import annotations

import pytest

import cnnvis
from cnnvis.models import availability
from cnnvis.models.loading import REGISTRY


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    import keras.src.backend.config as keras_config

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))
    monkeypatch.setenv("CNNVIS_OFFLINE", "0")
    monkeypatch.delenv("CNNVIS_WEIGHTS_DIR", raising=False)
    availability.forget_failure("MobileNet")
    yield tmp_path / "keras" / "models"
    availability.forget_failure("MobileNet")


def test_the_table_covers_every_model_with_a_plausible_size():
    table = availability.weights_table()
    assert set(table) == set(REGISTRY)
    assert 4 < table["MobileNetV2"].megabytes < 20  # 3.5 M parameters
    assert 500 < table["VGG16"].megabytes < 600  # 138 M parameters
    assert all(row.keras_file.endswith(".h5") for row in table.values())


def test_a_file_in_the_weights_folder_is_ready(tmp_path, keras_home):
    (tmp_path / "MobileNet.weights.h5").write_bytes(b"x")
    status = cnnvis.weights_status("MobileNet", tmp_path)
    assert status.state == "ready" and status.ready and "weights folder" in status.detail


def test_a_file_in_keras_cache_is_ready(keras_home):
    keras_home.mkdir(parents=True)
    (keras_home / availability.weights_table()["MobileNet"].keras_file).write_bytes(b"x")
    assert cnnvis.weights_status("MobileNet").state == "ready"


def test_otherwise_downloadable_with_its_size(keras_home):
    status = cnnvis.weights_status("MobileNet")
    assert status.state == "downloadable" and status.label == "download 17 MB"


def test_offline_it_is_unavailable(keras_home, monkeypatch):
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    status = cnnvis.weights_status("MobileNet")
    assert status.state == "unavailable" and "offline" in status.detail


def test_a_failed_download_is_remembered_for_a_while(keras_home, monkeypatch):
    availability.remember_failure("MobileNet", "It failed.")
    status = cnnvis.weights_status("MobileNet")
    assert status.state == "unavailable" and "next try in 10 min" in status.detail
    with pytest.raises(cnnvis.WeightsUnavailableError, match="failed a moment ago.*next try in 10 min"):
        cnnvis.load_model("MobileNet")
    monkeypatch.setattr(availability, "FAILURE_MEMORY", 0.0)  # time passes
    assert availability.recent_failure("MobileNet") is None
    assert cnnvis.weights_status("MobileNet").state == "downloadable"


def test_unknown_models_are_refused_in_one_sentence():
    with pytest.raises(cnnvis.UnknownModelError):
        cnnvis.weights_status("NoSuchNet")


def test_the_offline_message_names_the_folder_and_random_weights(monkeypatch):
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    with pytest.raises(cnnvis.WeightsUnavailableError) as caught:
        cnnvis.load_model("MobileNet", weights_dir=None)
    message = str(caught.value)
    assert "MobileNet.weights.h5" in message and "--weights random" in message
