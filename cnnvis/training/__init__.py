"""The training wing: explanations watched while a Keras model learns.

- :mod:`.callback`: :class:`ExplainCallback`, a ``keras.callbacks.Callback`` that explains
  a fixed set of images at the end of epochs of ``model.fit`` with the training model's
  current weights, and writes the maps, their pictures and (when asked) the trust report's
  verdicts to a folder and to TensorBoard.

The public name is re-exported by :mod:`cnnvis` (``cnnvis.ExplainCallback``).
"""

from .callback import ExplainCallback

__all__ = ["ExplainCallback"]
