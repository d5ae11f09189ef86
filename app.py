"""cnnvis web app: see what the ImageNet CNNs of keras.applications see.

The Hugging Face Space's entry (and ``python app.py`` on your machine): it builds the demo
of :mod:`cnnvis.ui` and serves it. Run ``python app.py --help`` for the options. Importing
this module builds ``demo`` but loads no model (``main`` warms the default model up in a
background thread).
"""

from cnnvis.ui import build_demo, main

demo = build_demo()

if __name__ == "__main__":
    main(demo)
