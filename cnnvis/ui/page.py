"""The shared area above the tabs (the photo, the example photos, the model picker, its
summary and the model's top-5 predictions) and the events that keep every tab's layer and
class pickers in step with the model and the photo; ``/classify``."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import gradio as gr

import cnnvis

from ..models import availability, hub
from ..models.availability import WeightsStatus
from ..errors import CnnvisError, ImageError
from ..models.weights import resolve_weights_dir
from . import endpoints
from ..serving import sessions as own_model
from . import opening, work
from .components import Page, class_choices, class_kept, layer_cleared, layer_update
from .inputs import TOP_CLASS, class_choice, pass_original_upload, read_image
from .texts import CLASS_FROM
from .settings import DEFAULT_EXAMPLE, DEFAULT_MODEL, EXAMPLES_DIR, compute_device, current

CLASSIFY = cnnvis.TECHNIQUES["classify"]
LANE = CLASSIFY.cost  # the page's own events that compute: quick work
TOP = 5


# The summary until the model is loaded: the app serves the page before the default model is
# ready (it warms up in the background, cnnvis.ui.work.start_warm_up).
WARMING = (
    f"Loading the model… ({DEFAULT_MODEL} warms up in the background when the app starts: "
    "the page works meanwhile, the first result may take a few seconds more.)"
)


def example_paths() -> list[str]:
    return [str(p) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))]


# ----- the model picker -------------------------------------------------------------------
# Its entries are model_choices(): (label, name) pairs in the registry's order (the API's
# list of models), each label saying whether the model can run here. A value must be a
# name that work.get_model loads.


def model_status(name: str) -> WeightsStatus | None:
    """Whether ``name``'s ImageNet weights can be had here (None: the app runs with random
    weights, which every model has). Reads folders only: nothing is loaded or downloaded."""
    settings = current()
    if settings.weights == "random":
        return None
    return cnnvis.weights_status(name, settings.weights_dir)


def weights_tag(status: WeightsStatus | None) -> str:
    """What a model needs here, in a few words: "ready", "download 14 MB", "unavailable
    offline", "unavailable: the download failed; next try in 9 min" ("random weights" when
    the app runs with them)."""
    if status is None:
        return "random weights"
    if status.state == "unavailable":
        return "unavailable offline" if availability.offline() else f"unavailable: {status.detail}"
    return status.label


def model_choices() -> list[tuple[str, str]]:
    """The registry's models, each with its input size and what it needs here, then
    keras-hub's ImageNet classifiers (ready, to download with the size, or needing the
    keras-hub package)."""
    return [
        (f"{name} · {spec.input_size} px · {weights_tag(model_status(name))}", name)
        for name, spec in sorted(cnnvis.REGISTRY.items())
    ] + [
        (f"{spec.name} · {spec.input_size} px · {hub.status_tag(spec)}", spec.name)
        for spec in cnnvis.hub_models()
    ]


MODEL_INFO = (
    "{count} ImageNet CNNs, with the image size each one sees and whether its weights are "
    "ready here, to download (with the size), or unavailable; type to filter."
)


def model_picker_update() -> dict:
    """The picker's entries as they are now (a download may have ended or failed since
    the page was built, and the settings are read at launch, after the page is built)."""
    return gr.update(choices=model_choices())


def weights_folder() -> str:
    """The weights folder, as the offline message names it."""
    folder = resolve_weights_dir(current().weights_dir)
    return str(folder) if folder else "none set: --weights-dir or CNNVIS_WEIGHTS_DIR"


def unavailable_sentence(name: str, status: WeightsStatus) -> str:
    """One sentence for a model that cannot run here: why, and the two ways out."""
    return (
        f"{name}'s ImageNet weights are unavailable here ({status.detail}): put "
        f"{name}.weights.h5 in the weights folder ({weights_folder()}) or start the app "
        "with --weights random."
    )


def model_summary(vis: cnnvis.VisModel) -> str:
    height, width = vis.input_size
    if vis.weights == "random":
        weights = "**random weights** (demo mode: the pictures show an untrained network)"
    elif vis.spec is None:  # an uploaded model (cnnvis.serving.sessions)
        weights = f"your own model, {vis.num_classes} classes, for you only"
    else:
        weights = "ImageNet weights"
    sees = f"{height}×{width} pixels" if height and width else "each photo at its own size"
    return (
        f"**{vis.name}** sees {sees} · {len(vis.visual_layers)} layers to "
        f"explore · {weights} · computing on the {compute_device()}"
    )


# ----- handlers ---------------------------------------------------------------------------


@work.computing(LANE)
def classify(
    image: str | None, model: str, progress: gr.Progress = gr.Progress()
) -> dict[str, float]:
    """The model's five most probable ImageNet classes for the photo, as
    {"285 · Egyptian cat": 0.84, ...}."""
    vis = work.load(model, progress)
    predictions = cnnvis.classify(vis, read_image(image), top=TOP)
    return {class_choice(p.index, vis): p.probability for p in predictions}


def predictions(
    image: str | None, model: str, progress: gr.Progress = gr.Progress()
) -> tuple[dict[str, float] | None, list[tuple[str, str]]]:
    """The top-5 panel's value and the class pickers' entries (the photo's predictions
    first); an empty panel while there is no photo, or no model to classify it with (the
    model's summary says why). A photo that cannot be read raises its sentence."""
    if not image:  # an uploaded model's own classes; ImageNet's for any registry model
        return None, class_choices(vis=own_model.session_model(model))
    try:
        vis = work.load(model, progress)
    except CnnvisError:
        return None, class_choices()
    top = cnnvis.classify(vis, read_image(image), top=TOP)
    return {class_choice(p.index, vis): p.probability for p in top}, class_choices(top, vis)


def model_layers(
    model: str, progress: gr.Progress = gr.Progress()
) -> tuple[str, cnnvis.VisModel | None]:
    """The model's summary and the model (loaded), or a warning and None if the model
    cannot be had (at once for a model whose weights are unavailable: offline, or a
    download that failed a moment ago, which availability remembers)."""
    name = str(model or "").strip() or DEFAULT_MODEL
    status = model_status(name) if name in cnnvis.REGISTRY else None
    if status is not None and status.state == "unavailable":
        return f"⚠️ {unavailable_sentence(name, status)}", None
    if status is not None and status.state == "downloadable" and status.megabytes:
        progress(0.05, desc=f"Downloading the ImageNet weights of {name} ({status.megabytes:,.0f} MB)…")
    else:
        progress(0.05, desc=f"Loading {name}…")
    try:
        vis = work.get_model(name)
    except CnnvisError as error:  # said where the model is chosen; its layers are cleared
        return f"⚠️ {error}", None
    return model_summary(vis), vis


# A photo refused, by session: Gradio 6.31 reports one upload as two changes, and the
# second must not say the refusal again ("Error (2)"). The same file uploaded again later
# is said again: a refusal is remembered for REFUSAL_WINDOW seconds. Bounded: the oldest
# sessions are forgotten.
REFUSED: OrderedDict[str, tuple[str, float]] = OrderedDict()
MAX_REFUSED = 256
REFUSAL_WINDOW = 10.0
_refused_lock = threading.Lock()


def refused_again(session: str | None, image: str | None, now: float | None = None) -> bool:
    """Whether ``image`` is the photo this session was refused in the last REFUSAL_WINDOW
    seconds (said once already); remembers it otherwise."""
    if not session or not image:
        return False
    now = time.monotonic() if now is None else now
    with _refused_lock:
        before = REFUSED.get(session)
        if before is not None and before[0] == image and now - before[1] < REFUSAL_WINDOW:
            return True
        REFUSED[session] = (image, now)
        REFUSED.move_to_end(session)
        while len(REFUSED) > MAX_REFUSED:
            REFUSED.popitem(last=False)
        return False


# ----- the area and its events ------------------------------------------------------------


def shared_inputs() -> tuple[gr.Image, gr.Dropdown, gr.Markdown, gr.Label]:
    """The photo, the example photos, the model picker, its summary and its predictions."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            image = gr.Image(
                value=str(DEFAULT_EXAMPLE) if DEFAULT_EXAMPLE.is_file() else None,
                label="Photo (upload, paste or webcam)",
                type="filepath",
                image_mode=None,
                sources=["upload", "webcam", "clipboard"],
                height=340,
            )
            pass_original_upload(image)
            with gr.Column(elem_id="examples"):
                gr.Examples(
                    example_paths(),
                    inputs=[image],
                    label="Example photos (click one)",
                    cache_examples=False,  # examples only fill the photo: no model runs at launch
                )
        with gr.Column(scale=2):
            model = gr.Dropdown(
                label="Model",
                info=MODEL_INFO.format(count=len(cnnvis.REGISTRY)),
                choices=model_choices(),
                value=DEFAULT_MODEL,
                allow_custom_value=True,
            )
            summary = gr.Markdown(WARMING)
            panel = gr.Label(label="What the model sees: its top-5 classes", num_top_classes=TOP)
    return image, model, summary, panel


def follow(page: Page, summary: gr.Markdown, panel: gr.Label) -> None:
    """Wire the shared area (after every tab has registered its pickers): the predictions
    and the class pickers follow the photo and the model, the layer pickers the model."""
    class_pickers: Sequence[gr.Dropdown] = list(page.class_pickers)
    layer_pickers = dict(page.layer_pickers)

    def show_predictions(image, model, request: gr.Request = None, progress=gr.Progress()):
        try:
            label, choices = predictions(image, model, progress)
        except ImageError:
            if refused_again(getattr(request, "session_hash", None), image):
                return {panel: None}  # said once already: Gradio reports an upload twice
            raise
        return {panel: label, **{picker: gr.update(choices=choices) for picker in class_pickers}}

    def show_predictions_for_model(image, model, chosen=None, progress=gr.Progress()):
        """As show_predictions, for another model: a class it does not have is let go."""
        label, choices = predictions(image, model, progress)
        value = class_kept(chosen, choices)
        let_go = value == TOP_CLASS and chosen != TOP_CLASS  # back to the top class: say so
        said = {"info": CLASS_FROM["top"]} if let_go else {}
        return {
            panel: label,
            **{picker: gr.update(choices=choices, value=value, **said) for picker in class_pickers},
        }

    def show_layers(model, progress=gr.Progress()):
        """The model's summary and every layer picker filled for it, or emptied when the
        model cannot be had (never another model's layers)."""
        text, vis = model_layers(model, progress)
        # A fresh update for each picker: Gradio takes the value out of an update it applies.
        pickers = {
            picker: layer_cleared(picker) if vis is None else layer_update(vis, kind)
            for picker, kind in layer_pickers.items()
        }
        return {summary: text, **pickers}

    refresh = [panel, *class_pickers]
    photo = [page.image, page.model]
    looked = endpoints.helper(
        page.image.change, show_predictions, photo, refresh, name="photo_predictions", lane=LANE
    )
    # A photo that cannot be read is refused in one sentence, and the box is emptied (it
    # would show a broken picture); the tabs then empty themselves (the photo changed).
    endpoints.helper(
        looked.failure,
        lambda: (None, None),
        [],
        [page.image, panel],
        name="photo_refused",
        queue=False,
    )
    triggers = [looked.success]
    # The picker's words as they are when the page opens (the settings are read at launch,
    # after the page was built); it reads folders only, nothing is loaded.
    endpoints.helper(
        page.demo.load, model_picker_update, [], [page.model], name="page_models", queue=False
    )
    for source, trigger in (("page", page.demo.load), ("model", page.model.change)):
        filled = endpoints.helper(
            trigger,
            show_layers,
            [page.model],
            [summary, *layer_pickers],
            name=f"{source}_layers",
            lane=LANE,
        )
        predicted = endpoints.helper(
            filled.success,
            show_predictions_for_model,
            [*photo, *class_pickers[:1]],  # one class for the page: every picker has its value
            refresh,
            name=f"{source}_predictions",
            lane=LANE,
        )
        triggers.append(predicted.success)
    triggers += one_class_choice(panel, class_pickers)
    # Each tab opens on its result, and follows the photo, the model and the class.
    opening.wire(page.demo, page.openers, first_tab(page), triggers, endpoints.helper)
    # /classify needs a photo; the panel above just empties without one, and classifies
    # each photo by itself: the endpoint has no button on the page.
    endpoints.publish_without_button(
        classify,
        CLASSIFY,
        {"image": page.image, "model": page.model},
        {"predictions": panel},
    )


def first_tab(page: Page) -> str:
    """The key of the tab the page opens on: the first one built."""
    [first, *_] = page.openers.openers
    return first.parent or first.key


def opening_values(page: Page, opener: opening.Opener, vis: cnnvis.VisModel) -> dict:
    """The values a tab's inputs have when the page opens on its example photo with the
    default model ``vis``: the layers preselected for it, the top class, each control's
    default."""
    values = {}
    for name, component in opener.inputs.items():
        if component is page.image:
            values[name] = str(DEFAULT_EXAMPLE)
        elif component is page.model:
            values[name] = DEFAULT_MODEL
        elif component in page.layer_pickers:
            values[name] = layer_update(vis, page.layer_pickers[component])["value"]
        elif any(component is picker for picker in page.class_pickers):
            values[name] = TOP_CLASS
        else:
            values[name] = component.value
    return values


def precompute_openings(page: Page, setting: str = "all") -> int:
    """Compute the long tabs' results for the example photo the page opens on, at their
    defaults, so that those tabs open on results too (:func:`opening.precompute`; run in
    the background after the warm-up, never on the request path)."""
    vis = work.get_model(DEFAULT_MODEL)
    return opening.precompute(
        page.openers,
        lambda opener: opening_values(page, opener, vis),
        opening.precompute_wanted(setting),
    )



def one_class_choice(panel: gr.Label, class_pickers: Sequence[gr.Dropdown]) -> list:
    """One class for the whole page: clicking a prediction of the top-5 panel, or picking
    a class in any tab, sets every tab's class picker (``.input``: a visitor's change
    only, so the pickers set here do not set each other again). Returns the events' ends,
    after which the open tab follows the class."""

    def clicked(evt: gr.SelectData) -> dict:
        return {
            picker: gr.update(value=evt.value, info=CLASS_FROM["clicked"])
            for picker in class_pickers
        }

    events = [
        endpoints.helper(
            panel.select, clicked, [], list(class_pickers), name="class_clicked", queue=False
        ).success
    ]
    for source in class_pickers:
        others = [picker for picker in class_pickers if picker is not source]
        events.append(
            endpoints.helper(
                source.input,
                setting(source, others),
                [source],
                list(class_pickers),
                name="class_picked",
                queue=False,
            ).success
        )
    return events


def class_from(value: str | None, tab: str) -> str:
    """Where the page's class came from, in words: the top class, or picked in ``tab``."""
    if not value or str(value).strip() == TOP_CLASS:
        return CLASS_FROM["top"]
    return CLASS_FROM["picked"].format(tab=tab)


def tab_title(component: gr.components.Component) -> str:
    """The title of the top-level tab ``component`` is in."""
    block, title = component, "this"
    while block is not None:
        if isinstance(block, gr.Tab):
            title = block.label
        block = getattr(block, "parent", None)
    return title


def setting(source: gr.Dropdown, others: Sequence[gr.Dropdown]):
    """A handler that sets ``others`` to the value picked in ``source`` and tells every
    picker where it was picked."""
    tab = tab_title(source)

    def picked(value: str) -> dict:
        words = class_from(value, tab)
        return {
            source: gr.update(info=words),
            **{picker: gr.update(value=value, info=words) for picker in others},
        }

    return picked
