"""The models wing: everything between a model's name and its logits.

- :mod:`.loading`: the registry of ``keras.applications`` models (:class:`ModelSpec`), the
  :class:`VisModel` wrapper, ``load_model`` / ``wrap_model`` and the bounded model cache;
- :mod:`.weights`: ImageNet weights, the local weights folder first, then Keras' download;
- :mod:`.availability`: which models can run here (ready, to download, unavailable);
- :mod:`.preprocessing`: each family's preprocessing as an exact, invertible affine map;
- :mod:`.graph`: the layer graph, layer listings, layer-by-layer runs, the guided gate;
- :mod:`.labels`: the ImageNet class names, and a user's class turned into an index;
- :mod:`.heads`: logits to the top class and to probabilities (the one rule of each);
- :mod:`.keras_compat`: every private Keras (and TensorFlow) API cnnvis uses, checked by a test;
- :mod:`.devices`: the device TensorFlow computes on, chosen once per process;
- :mod:`.classifiers`: what counts as an explainable classifier (a user's own Keras model);
- :mod:`.own`: checks on a user's Keras model, and safe loading of a ``.keras`` file.

Nothing is imported here, so that ``import cnnvis.models.labels`` stays light; the public
names are re-exported by :mod:`cnnvis`.
"""
