"""cnnvis web app: see what the ImageNet CNNs of keras.applications see.

The Hugging Face Space's entry (and ``python app.py`` on your machine): it builds the demo
of :mod:`cnnvis.ui` and serves it. Run ``python app.py --help`` for the options: the
command line is read before TensorFlow and Gradio load, so ``--help`` (or a wrong option)
answers at once. Importing this module builds ``demo`` but loads no model (``main``
serves the page first, then warms the default model up in a background thread).
"""

from cnnvis.ui.settings import parse_args

# Only when run as a script: the Space (and the tests) import ``demo``.
ARGS = parse_args() if __name__ == "__main__" else None

from cnnvis.ui import build_demo, main  # noqa: E402 - after the command line, on purpose

demo = build_demo()

if __name__ == "__main__":
    main(demo, args=ARGS)
