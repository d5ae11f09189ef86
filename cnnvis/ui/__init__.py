"""The web app's own machinery (Gradio is imported only inside this package and app.py).

- :mod:`cnnvis.ui.lanes`: bounded lanes of model work, taken inside the worker thread.
- :mod:`cnnvis.ui.screening`: every event's inputs checked before Gradio sees them (files
  only from this server's uploads, numbers in range, names of bounded length).
- :mod:`cnnvis.ui.uploads`: one file per upload request, a size bound on the upload and
  result cache, bounded image-editor blobs.
- :mod:`cnnvis.ui.responses`: ``nosniff`` on every response, non-images never served inline.

Importing this package imports nothing heavy; import the modules you need.
"""
