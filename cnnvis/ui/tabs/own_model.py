"""The "Your model" tab: a visitor uploads a Keras classifier of their own (a ``.keras``
file, its preprocessing, optionally a text file of class names), which is loaded for
their session only (:mod:`cnnvis.serving.sessions`) and becomes an entry of the shared
model picker, chosen, for them alone: every tab then explains it (its layers, its
default Grad-CAM layer, its input size, its class names), since every handler gets its
model through :func:`cnnvis.ui.work.get_model`.

Why a tab rather than a panel in the shared area: loading is a one-off step with four
inputs, and a tab is the page's unit of extension (one line in ``TABS``), whereas the
shared area stays the photo and the picker. What it leaves behind, the picker's entry
"Your model: <name>", is in the shared area above every tab.

``/load_model`` is the same step for ``gradio_client``: it returns the name that the
client's later calls pass as ``model=``, in the same client (session) only. Loading runs
in the long lane (:data:`cnnvis.serving.sessions.LANE`), so it counts against the bound on
long work. The session's model is freed when the page or the client disconnects
(``demo.unload``).
"""

from __future__ import annotations

import gradio as gr

from ...models.classifiers import MAX_INPUT_SIDE
from ...errors import ParameterError
from ...models.own import MAX_CLASS_NAMES_BYTES, PREPROCESSING_CHOICES, UNSAFE_LAYERS
from ...serving import sessions as own_model
from .. import page as shared_area
from .. import work
from ..components import Page, run_button
from ..endpoints import by_component, helper
from ...serving.file_bounds import MAX_MODEL_FILE_BYTES, MB, MODEL_FILE_SUFFIX

API_NAME = "load_model"

TEXT = f"""
Explain a classifier of your own. Upload a Keras 3 **`.keras` file** (saved with
`model.save("name.keras")`) of at most **{MAX_MODEL_FILE_BYTES // MB} MB** and
**{own_model.MAX_MODEL_PARAMETERS // 1_000_000} million parameters**: one RGB image in,
one score per class out, made of Keras' own layers (a final softmax or sigmoid is found and
taken off for the gradients). The file is checked before anything in it is built and
loaded in Keras' safe mode: no `Lambda` layer, custom object or pickled code
({", ".join(sorted(UNSAFE_LAYERS))} are refused) ever runs on this server.

Once loaded, it is in the model picker above as **Your model:** and its name, chosen, for
you only (no other visitor sees or reaches it), and every tab explains it. It is freed when you close
this page, or after {own_model.IDLE_SECONDS // 60} minutes unused; a new upload replaces it.
"""

DOCS = {
    "model_file": f"a Keras 3 {MODEL_FILE_SUFFIX} file (a file, e.g. handle_file('mine.keras')) "
    f"of at most {MAX_MODEL_FILE_BYTES // MB} MB.",
    "preprocessing": "how the model expects its pixels: "
    + "; ".join(f'"{name}" ({words})' for name, words in PREPROCESSING_CHOICES.items())
    + ".",
    "class_names": "optional: a text file with one class name per line, in the order of the "
    "model's outputs (None: the classes are numbered).",
    "input_size": "for a model whose input takes any size, the side in pixels to run it at; "
    "0: each photo at its own size (the model's own size when it has one).",
}


def describe_endpoint() -> str:
    lines = [
        "Load your own Keras classifier for this client's session; returns its name, to "
        "pass as model= to every other endpoint of this client (another client never "
        "reaches it). Loaded in Keras' safe mode, with the bounds of SECURITY.md.",
        "",
        "Parameters:",
    ]
    return "\n".join([*lines, *(f"    {name}: {words}" for name, words in DOCS.items())])


@work.computing(own_model.LANE)
def load_model(
    model_file: str | None,
    preprocessing: str | None,
    class_names: str | None = None,
    input_size: float | None = 0,
    progress: gr.Progress = gr.Progress(),
) -> str:
    """Load the uploaded file for this session; its name in the picker and the API."""
    if not model_file:
        raise ParameterError(f"Choose a {MODEL_FILE_SUFFIX} model file first.")
    if not preprocessing:
        raise ParameterError(
            "Choose the preprocessing your model was trained with ("
            + ", ".join(PREPROCESSING_CHOICES)
            + ")."
        )
    progress(0.1, desc="Checking and loading the model file…")
    size = int(input_size or 0) or None
    held = own_model.load_upload(
        own_model.current_session(), model_file, preprocessing, class_names or None, size
    )
    return held.name


def picked(name: str | None) -> tuple[dict, str]:
    """The model picker with this session's model first, and chosen (its change fills
    every tab's pickers), and what was loaded, in words."""
    held = own_model.HELD.get(own_model.current_session(), str(name or ""))
    choices = [own_model.picker_entry(held), *shared_area.model_choices()]
    return gr.update(choices=choices, value=held.name), loaded_words(held)


NUMBERED = "classes (numbered; give a class-names file to name them)"


def loaded_words(held) -> str:
    """What was loaded, in words (:func:`cnnvis.serving.sessions.describe`), saying the
    classes as the page shows them: a 1000-class model without a names file is read with
    ImageNet's names (its top-5 and class pickers show them), not as numbered classes."""
    words = own_model.describe(held)
    if held.vis.uses_imagenet_classes:
        words = words.replace(NUMBERED, "classes, read as ImageNet's and named as such (give a "
                              "class-names file if they are others)")
    return words


def free(request: gr.Request) -> None:
    """The page (or gradio_client) disconnected: free its session's models."""
    own_model.free_session(getattr(request, "session_hash", None))


def own_model_tab(page: Page) -> None:
    with gr.Tab("Your model", id="own_model", elem_id="tab-own_model"):
        gr.Markdown(TEXT, elem_classes="technique-text")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                model_file = gr.File(
                    label=f"Model file ({MODEL_FILE_SUFFIX})",
                    file_types=[MODEL_FILE_SUFFIX],
                    file_count="single",
                    type="filepath",
                )
                preprocessing = gr.Dropdown(
                    label="Preprocessing",
                    info="How your model expects its pixels, as it was trained.",
                    choices=[(f"{name}: {words}", name) for name, words in PREPROCESSING_CHOICES.items()],
                    value=None,
                    filterable=False,
                )
                class_names = gr.File(
                    label="Class names (optional)",
                    file_types=[".txt"],
                    file_count="single",
                    type="filepath",
                )
                gr.Markdown(
                    f"A text file, one name per line, in the order of the model's outputs "
                    f"(at most {MAX_CLASS_NAMES_BYTES // MB} MB); without it the classes are "
                    "numbered.",
                    elem_classes="technique-text",
                )
                input_size = gr.Number(
                    0,
                    label="Input size (px)",
                    info="Only for a model that takes any size: the side to run it at. "
                    "0: each photo at its own size.",
                    precision=0,
                    minimum=0,
                    maximum=MAX_INPUT_SIDE,
                )
                button = run_button("Load my model")
            with gr.Column(scale=2):
                name = gr.Textbox(
                    label="Your model (the name to use as model= in the API)",
                    interactive=False,
                )
                details = gr.Markdown()
    inputs = {
        "model_file": model_file,
        "preprocessing": preprocessing,
        "class_names": class_names,
        "input_size": input_size,
    }
    loaded = button.click(
        by_component(load_model, {"name": name}),
        inputs_kwargs=inputs,
        outputs=[name],
        api_name=API_NAME,
        api_description=describe_endpoint(),
        concurrency_id=own_model.LANE,
    )
    helper(
        loaded.success, picked, [name], [page.model, details], name="own_model_picked", queue=False
    )
    page.demo.unload(free)
