"""The serving wing: everything that guards and schedules the app's requests (the page
itself is :mod:`cnnvis.ui`).

- :mod:`.screening`: every event's inputs checked before Gradio sees them, on every route;
- :mod:`.values`: the rule for one value of each component type;
- :mod:`.file_bounds`: how large a file the app takes (a photo, a ``.keras`` model);
- :mod:`.uploads`: one file per upload request, a bound on the upload and result cache;
- :mod:`.responses`: ``nosniff`` on every response, non-images never served inline;
- :mod:`.hosts`: only the allowed host names answered (DNS rebinding);
- :mod:`.lanes`: bounded lanes of model work ("quick" and "long") on every route;
- :mod:`.stopping`: the Stop of the iterative methods (the picture so far is kept);
- :mod:`.sessions`: the models visitors upload, each held for its session only;
- :mod:`.connections`: which sessions have a live heartbeat, from which client;
- :mod:`.gradio_compat`: every use of Gradio beyond its public API, checked against the pin;
- :mod:`.native_log`: TensorFlow's harmless start-up lines kept out of the log.
"""
