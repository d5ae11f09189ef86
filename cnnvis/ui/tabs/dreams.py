"""Pictures the network makes, streamed as they grow: Deep Dream (from the photo) and
feature visualisation (from noise), each with a Stop button that ends the run at its next
step and keeps the picture so far (:mod:`cnnvis.serving.stopping`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import gradio as gr

import cnnvis

from ...errors import ParameterError, quoted
from ...models.labels import imagenet_classes
from ...registry import check_int
from ...techniques.deep_dream import MAX_LAYERS
from ...techniques.feature_vis import MAX_IMAGES
from .. import pictures
from .. import work
from ..bounds import bounded_by_layer
from ..components import Page, layer_picker, option_controls, run_button, technique_tab
from ..endpoints import helper, publish
from ..inputs import (
    accept_any_text,
    class_choice,
    layer_list,
    layer_name,
    parse_channels,
    parse_class,
    read_image,
)
from ...serving.stopping import STOPS

DEEP_DREAM = cnnvis.TECHNIQUES["deep_dream"]
FEATURE_VISUALIZATION = cnnvis.TECHNIQUES["feature_visualization"]
FRAMES = 8  # intermediate pictures of a feature visualisation, about
STOP_DOC = (
    "Stop {what} that this session (your gradio_client Client, or the page) is running, at "
    "its next step: it ends with the {picture} so far, captioned \"stopped at {where}\" "
    "(job.result() gives it). Nothing happens if none is running. Parameters: none."
)
STOP_DREAM_DOC = STOP_DOC.format(
    what="the Deep Dream", picture="dream", where="octave 2/3, step 12/20"
)
STOP_FEATURES_DOC = STOP_DOC.format(
    what="the feature visualisation", picture="pictures", where="step 80/128"
)
Files = list[tuple[str, str]]


def frame_interval(steps, frames: int) -> int:
    """Steps between two intermediate pictures, for about ``frames`` of them (cnnvis
    checks ``steps`` itself)."""
    if isinstance(steps, (int, float)) and math.isfinite(steps) and steps >= 1:
        return max(1, int(steps) // frames)
    return 1


# ----- Deep Dream -------------------------------------------------------------------------


@work.computing(DEEP_DREAM.cost)
def deep_dream(
    image: str | None,
    model: str,
    layers: Sequence[str] | None,
    octaves: int,
    steps: int,
    step_size: float,
    seed: int,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[Files]:
    """Deep Dream: the photo changed to excite the chosen layers (streams intermediate
    images; /stop_deep_dream ends it with the dream so far)."""
    vis = work.load(model, progress)
    photo = read_image(image)
    chosen = layer_list(layers)
    work.working(progress, "Starting to dream", 0.1)
    with STOPS.running(request, DEEP_DREAM.name) as stop:
        frames = cnnvis.deep_dream_frames(
            vis,
            photo,
            layers=chosen,
            octaves=octaves,
            steps=steps,
            step_size=step_size,
            seed=seed,
            every=frame_interval(steps, 4),  # about 4 pictures per octave
            stop=stop,
        )
        for frame in frames:
            yield from dream_frame(vis, photo, frame, chosen, step_size, seed, progress)


def dream_frame(vis, photo, frame, layers, step_size: float, seed: int, progress) -> Iterator[Files]:
    """The gallery of one Deep Dream frame: the dream so far (in progress or stopped, and
    where), or the finished dream; the photo it started from beside a result."""
    settings = (
        f"{pictures.plural(frame.octaves, 'octave')} × {pictures.plural(frame.steps, 'step')}, "
        f"step size {step_size:g}, seed {seed}"
    )
    if frame.stopped:
        progress(frame.progress, desc=f"Stopped at {frame.where}")
        shown = ", ".join(layers or vis.dream_layers)
        text = f"Deep Dream stopped at {frame.where} · {vis.name} · {shown} · {settings}"
        yield pictures.files(
            [(frame.image, pictures.caption(vis, text)), (photo, "The photo it started from")]
        )
        return
    progress(frame.progress, desc=f"Dreaming: {frame.where}")
    if frame.result is None:
        text = pictures.caption(vis, f"Deep Dream in progress · {frame.where}")
        yield pictures.files([(frame.image, text)])
        return
    dream = frame.result
    yield pictures.files(
        [
            (dream.image, pictures.caption(vis, f"{dream.caption} · {settings}")),
            (photo, "The photo it started from"),
        ]
    )


def stop_deep_dream(request: gr.Request = None) -> None:
    """Ask this session's Deep Dream to stop at its next step (no computation: no lane)."""
    STOPS.stop(request, DEEP_DREAM.name)


def deep_dream_tab(page: Page) -> None:
    with technique_tab(DEEP_DREAM) as tab:
        layers = layer_picker(
            page,
            "dream",
            "Layers to excite",
            f"Up to {MAX_LAYERS}; middle layers give textures and object parts.",
            max_choices=MAX_LAYERS,
        )
        options = option_controls(DEEP_DREAM)
        with gr.Row():
            run = run_button("Dream")
            stop = gr.Button("Stop", variant="stop")
    inputs = {"image": page.image, "model": page.model, "layers": layers, **options}
    docs = {"layers": f"1 to {MAX_LAYERS} layer names; empty for the model's default dream layers."}
    outputs = {"gallery": tab.gallery}
    handler = page.opens(tab.tab, "deep_dream", deep_dream, DEEP_DREAM.cost, inputs, outputs)
    publish(run, handler, DEEP_DREAM, inputs, outputs, docs=docs)
    publish(
        stop, stop_deep_dream, DEEP_DREAM, {}, {}, name="stop_deep_dream", description=STOP_DREAM_DOC
    )


# ----- feature visualisation ----------------------------------------------------------------


def feature_targets(
    vis: cnnvis.VisModel,
    target: str,
    layer: str | None,
    count: int,
    channels: str | None,
    classes: str | Sequence[str] | None,
) -> tuple[dict, list[str]]:
    """cnnvis' keyword arguments for the pictures asked for, and a label per picture."""
    if target == "class":
        chosen = [classes] if isinstance(classes, (str, int)) else list(classes or [])
        indices = [parse_class(choice) for choice in chosen if str(choice).strip()]
        if not indices or None in indices:
            raise ParameterError("Choose the classes to visualise (there is no top class here).")
        indices = [vis.resolve_class(index) for index in indices]
        return {"target_class": indices}, [f"{vis.class_label(i)} ({i})" for i in indices]
    if target != "channels":
        raise ParameterError(f"The target must be 'channels' or 'class'; got {quoted(target)}.")
    layer = layer_name(layer) or vis.dream_layers[0]
    indices = parse_channels(channels)
    if not indices:
        count = check_int("count", count, 1, MAX_IMAGES)
        vis.feature_layer(layer)
        indices = list(range(min(count, vis.info(layer).channels or 1)))
    return {"layer": layer, "channels": indices}, [f"channel {c}" for c in indices]


@work.computing(FEATURE_VISUALIZATION.cost)
def feature_visualization(
    model: str,
    target: str,
    layer: str | None,
    count: int,
    channels: str | None,
    classes: Sequence[str] | None,
    steps: int,
    size: int,
    seed: int,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[Files]:
    """Pictures grown from noise to excite channels of a layer, or classes (streams
    intermediate pictures; /stop_feature_visualization ends it with the pictures so far)."""
    vis = work.load(model, progress)
    options, labels = feature_targets(vis, target, layer, count, channels, classes)
    work.working(progress, "Starting from grey noise", 0.1)
    with STOPS.running(request, FEATURE_VISUALIZATION.name) as stop:
        frames = cnnvis.feature_visualization_frames(
            vis,
            **options,
            steps=steps,
            size=size,
            seed=seed,
            every=frame_interval(steps, FRAMES),
            stop=stop,
        )
        for frame in frames:
            if frame.result is not None:
                yield pictures.files(pictures.feature_gallery(vis, frame.result, labels))
                continue
            if frame.stopped:
                progress(frame.progress, desc=f"Stopped at {frame.where}")
                shown = options.get("layer") or "class logits"
                text = (
                    f"Feature visualisation stopped at {frame.where} · {vis.name} · {shown} · "
                    f"{', '.join(labels)} · {size} px, seed {seed}"
                )
            else:
                progress(frame.progress, desc=f"Growing the pictures: {frame.where}")
                text = f"Feature visualisation in progress · {vis.name} · {frame.where}"
            yield pictures.files(
                [(pictures.feature_sheet(frame.images, labels), pictures.caption(vis, text))]
            )


def stop_feature_visualization(request: gr.Request = None) -> None:
    """Ask this session's feature visualisation to stop at its next step (no lane)."""
    STOPS.stop(request, FEATURE_VISUALIZATION.name)


def feature_target_changed(target: str) -> tuple[bool, bool]:
    """Whether the channel controls show (for "channels") and the class picker (for
    "class")."""
    return target != "class", target == "class"


def feature_visualization_tab(page: Page) -> None:
    with technique_tab(FEATURE_VISUALIZATION) as tab:
        target = gr.Radio(
            [("channels of a layer", "channels"), ("classes", "class")],
            value="channels",
            label="What to visualise",
        )
        layer = layer_picker(
            page,
            "middle",
            "Layer",
            "Middle layers: textures and patterns. Deep layers: object parts.",
        )
        count = gr.Slider(1, MAX_IMAGES, value=8, step=1, label="How many channels")
        bounded_by_layer(page, layer, count, name="feature_visualization_count_bounded")
        channels = gr.Textbox(
            "",
            label="Or these channels",
            placeholder="e.g. 3, 17, 42",
            info="Channel indices separated by commas; empty: the first ones.",
        )
        classes = accept_any_text(
            gr.Dropdown(
                label="Classes",
                info=f"Up to {MAX_IMAGES}; type to search. Each picture maximises one class's logit.",
                choices=[class_choice(c.index) for c in imagenet_classes()],
                value=[class_choice(130)],  # flamingo: a class whose picture reads well
                multiselect=True,
                max_choices=MAX_IMAGES,
                allow_custom_value=True,
                visible=False,
            )
        )
        options = option_controls(FEATURE_VISUALIZATION)
        with gr.Row():
            run = run_button("Visualise")
            stop = gr.Button("Stop", variant="stop")

    def show_target(choice: str) -> dict:
        channel_controls, class_control = feature_target_changed(choice)
        shown = {
            control: gr.update(visible=channel_controls) for control in (layer, count, channels)
        }
        return {**shown, classes: gr.update(visible=class_control)}

    helper(
        target.change,
        show_target,
        [target],
        [layer, count, channels, classes],
        name="feature_target_changed",
        queue=False,
    )
    inputs = {
        "model": page.model,
        "target": target,
        "layer": layer,
        "count": count,
        "channels": channels,
        "classes": classes,
        **options,
    }
    docs = {
        "target": '"channels" (of the layer) or "class" (the classes\' logits).',
        "layer": 'for "channels", a layer name; empty for the model\'s default (a middle block).',
        "count": f'for "channels", how many of the first channels, 1 to {MAX_IMAGES} (when channels is empty).',
        "channels": 'for "channels", channel indices such as "3, 17, 42" (overrides count); empty for the first ones.',
        "classes": f'for "class", 1 to {MAX_IMAGES} classes: indices, labels, ImageNet ids or picker entries.',
    }
    outputs = {"gallery": tab.gallery}
    handler = page.opens(
        tab.tab,
        "feature_visualization",
        feature_visualization,
        FEATURE_VISUALIZATION.cost,
        inputs,
        outputs,
    )
    publish(run, handler, FEATURE_VISUALIZATION, inputs, outputs, docs=docs)
    publish(
        stop,
        stop_feature_visualization,
        FEATURE_VISUALIZATION,
        {},
        {},
        name="stop_feature_visualization",
        description=STOP_FEATURES_DOC,
    )
