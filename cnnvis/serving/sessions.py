"""Models that visitors upload: each held for its session only, bounded in number and in
parameters, and freed when the session ends.

A ``.keras`` file is checked and loaded by :func:`cnnvis.load_keras_file` (Keras' safe
mode, its config walked first) with the app's bounds (:data:`MAX_MODEL_PARAMETERS`, and
the file size of :data:`cnnvis.serving.file_bounds.MAX_MODEL_FILE_BYTES`), then kept in
:data:`HELD` under the session of the request that loaded it, as ``"Your model: <name>"``.
Every handler gets its model through :func:`cnnvis.ui.work.get_model`, which asks
:func:`session_model` first: a name of this form is looked up in the *requesting*
session's models only, so another visitor never reaches it, whatever name they send.

Why a store of our own, keyed by Gradio's ``session_hash``, and not ``gr.State``: the
handlers of every tab (and their published endpoints) take the model by name; a State
would have to be an input of every event. And Gradio keeps a closed session's State for
an hour (``SessionState.STATE_TTL_WHEN_CLOSED``) whatever its ``time_to_live``, with no
bound on how many sessions hold one. Here a session's model is freed when its page (or
``gradio_client``) disconnects, by ``demo.unload`` (:func:`free_session`, wired by the
tab), and a model unused for :data:`IDLE_SECONDS` is freed too. A model is loaded only for
a session with a live connection (Gradio's heartbeat, watched by
:mod:`cnnvis.serving.connections`), and the models of a session whose heartbeat stopped
are freed after :data:`DISCONNECTED_SECONDS` (looked for every :data:`SWEEP_SECONDS`: within
a minute), so made-up session hashes hold nothing; the sessions of one client (the
heartbeat connection's address, not a hash the caller chooses) hold at most
:data:`MODELS_PER_CLIENT` models together; at most :data:`MAX_HELD_MODELS` models,
:data:`MAX_HELD_PARAMETERS` parameters in all, are held across sessions, and a load
beyond them is refused in one sentence.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import CnnvisError, ModelFileError, ParameterError, UnknownModelError, quoted
from .connections import CONNECTIONS

if TYPE_CHECKING:
    from ..models.cost import ModelCost
    from ..models.loading import VisModel

log = logging.getLogger("cnnvis.serving.sessions")

PREFIX = "Your model: "  # how an uploaded model is named in the picker and the API
LANE = "long"  # loading reads and builds a whole model: long work, in that lane
MAX_MODEL_PARAMETERS = 32_000_000  # one uploaded model (128 MB of float32 weights)
MB = 2**20
# The cost of one image through an uploaded model, estimated from its config before any
# weight exists (cnnvis.models.cost): the memory of a forward and a backward pass, and the
# multiply-adds. The bounds admit what the registry's models cost (ResNet152V2: 867 MB,
# 11.0 billion; VGG16: 15.5 billion); the quick bounds are those of the quick lane.
MAX_PASS_BYTES = 1024 * MB
MAX_MULTIPLY_ADDS = 20_000_000_000
QUICK_PASS_BYTES = 512 * MB  # ResNet50: 425 MB
QUICK_MULTIPLY_ADDS = 5_000_000_000  # ResNet50: 3.9 billion
MAX_HELD_MODELS = 8  # uploaded models held at once, all sessions together
MAX_HELD_PARAMETERS = 100_000_000  # their parameters, in all (400 MB of float32 weights)
MODELS_PER_SESSION = 1  # a new upload replaces the session's previous one
MODELS_PER_CLIENT = 2  # models held by the sessions of one client (its address) together
IDLE_SECONDS = 30 * 60  # a model unused for this long is freed
DISCONNECTED_SECONDS = 30  # a model of a session without a heartbeat for this long is freed
SWEEP_SECONDS = 15  # how often idle and disconnected models are looked for


class ModelsFull(CnnvisError, RuntimeError):
    """The server holds as many uploaded models as its bounds allow."""


@dataclass
class Held:
    """One uploaded model, as its session holds it."""

    name: str  # PREFIX + the model's name: its picker value and ``model=`` for the API
    vis: VisModel
    parameters: int
    last_used: float
    client: str | None = None  # the address of the connection that loaded it
    cost: ModelCost | None = None  # one image's estimated cost (cnnvis.models.cost)

    @property
    def lane(self) -> str:
        """The lane of its quick work: "long" when it costs more than the quick lane's
        bounds (:data:`QUICK_PASS_BYTES`, :data:`QUICK_MULTIPLY_ADDS`)."""
        cost = self.cost
        if cost is None or cost.pass_bytes > QUICK_PASS_BYTES or cost.multiply_adds > QUICK_MULTIPLY_ADDS:
            return "long"
        return "quick"


@dataclass
class HeldModels:
    """The uploaded models of every session: ``session -> {name: Held}``, bounded (see
    the module docstring). Thread-safe; models are freed outside the lock."""

    max_models: int = MAX_HELD_MODELS
    max_parameters: int = MAX_HELD_PARAMETERS
    per_session: int = MODELS_PER_SESSION
    per_client: int = MODELS_PER_CLIENT
    idle_seconds: float = IDLE_SECONDS
    disconnected_seconds: float = DISCONNECTED_SECONDS
    clock: Callable[[], float] = time.monotonic
    live: Callable[[str], bool] | None = None  # whether a session has a heartbeat (None: all)
    _sessions: dict[str, OrderedDict[str, Held]] = field(default_factory=dict)
    _last_live: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sweeper: threading.Thread | None = None

    # ----- what is held ----------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return sum(len(models) for models in self._sessions.values())

    @property
    def parameters(self) -> int:
        with self._lock:
            return self._parameters()

    def _parameters(self, leaving: str | None = None) -> int:
        """Parameters held, not counting those that ``leaving``'s next upload replaces."""
        return sum(
            held.parameters
            for session, models in self._sessions.items()
            for held in self._kept(session, models, leaving)
        )

    def _count(self, leaving: str | None = None) -> int:
        return sum(
            len(self._kept(session, models, leaving))
            for session, models in self._sessions.items()
        )

    def _kept(self, session: str, models: OrderedDict[str, Held], leaving: str | None) -> list:
        held = list(models.values())
        if session == leaving:  # its oldest make room for the new one
            return held[max(0, len(held) - self.per_session + 1) :]
        return held

    def sessions(self) -> list[str]:
        with self._lock:
            return [session for session, models in self._sessions.items() if models]

    # ----- bounds ----------------------------------------------------------------------
    def check_room(self, session: str, parameters: int, client: str | None = None) -> None:
        """Refuse, in one sentence, a model of ``parameters`` that ``session`` (of
        ``client``) could not add now (idle and disconnected models are freed first)."""
        self.expire()
        with self._lock:
            self._check_room(session, parameters, client)

    def _check_room(self, session: str, parameters: int, client: str | None = None) -> None:
        if client is not None:
            mine = sum(
                1
                for other, models in self._sessions.items()
                for held in self._kept(other, models, session)
                if held.client == client
            )
            if mine + 1 > self.per_client:
                raise ModelsFull(
                    f"Your connection holds {mine} uploaded models already, in other pages or "
                    f"sessions (at most {self.per_client} per visitor); close one of them, or "
                    "wait until it is freed."
                )
        if self._count(session) + 1 > self.max_models:
            raise ModelsFull(
                f"The server holds as many uploaded models as it can ({self.max_models}, "
                "for all visitors together); please try again in a few minutes, or pick "
                "one of the 40 models."
            )
        if self._parameters(session) + parameters > self.max_parameters:
            raise ModelsFull(
                f"The server cannot hold {parameters:,} more parameters of uploaded models "
                f"now ({self.max_parameters:,} in all, for all visitors together); please "
                "try again in a few minutes, or upload a smaller model."
            )

    # ----- adding, finding, freeing ------------------------------------------------------
    def put(
        self,
        session: str,
        vis: VisModel,
        parameters: int,
        client: str | None = None,
        cost: ModelCost | None = None,
    ) -> str:
        """Hold ``vis`` for ``session`` (replacing its oldest beyond ``per_session``);
        returns its name, ``PREFIX + vis.name`` (numbered if that name is held already,
        so that a new upload is a new choice of the picker)."""
        if not session:
            raise ParameterError(
                "An uploaded model belongs to a session of the page or of gradio_client; "
                "this request has none."
            )
        with self._lock:
            self._check_room(session, parameters, client)
            models = self._sessions.setdefault(session, OrderedDict())
            self._last_live[session] = self.clock()
            base = PREFIX + vis.name
            name, number = base, 2
            while name in models:
                name, number = f"{base} ({number})", number + 1
            models[name] = Held(name, vis, parameters, self.clock(), client, cost)
            replaced = []
            while len(models) > self.per_session:
                replaced.append(models.popitem(last=False)[1])
        self._start_sweeping()
        self._freed(replaced)
        return name

    def get(self, session: str | None, name: str) -> Held:
        """The model ``name`` of ``session``; :class:`UnknownModelError` if this session
        holds no model of that name (another session's is never found)."""
        self.expire()
        with self._lock:
            held = self._sessions.get(session or "", {}).get(name)
            if held is not None:
                held.last_used = self.clock()
                return held
        raise UnknownModelError(
            f"There is no model called {quoted(name)} for you: an uploaded model belongs to "
            "the page (or gradio_client session) that uploaded it, and is freed when it "
            f"closes or after {self.idle_seconds / 60:.0f} minutes unused; upload it again "
            "in the Your model tab."
        )

    def free(self, session: str | None) -> int:
        """Free every model of ``session`` (its page closed); returns how many."""
        with self._lock:
            freed = list((self._sessions.pop(session or "", None) or {}).values())
            self._last_live.pop(session or "", None)
        return self._freed(freed)

    def expire(self) -> int:
        """Free the models unused for ``idle_seconds``, and those of sessions without a
        live connection for ``disconnected_seconds``; returns how many."""
        now = self.clock()
        limit = now - self.idle_seconds
        freed = []
        with self._lock:
            for session, models in list(self._sessions.items()):
                if self.live is None or self.live(session):
                    self._last_live[session] = now
                gone = now - self._last_live.get(session, now) > self.disconnected_seconds
                for name, held in list(models.items()):
                    if gone or held.last_used < limit:
                        freed.append(models.pop(name))
                if not models:
                    del self._sessions[session]
                    self._last_live.pop(session, None)
        return self._freed(freed)

    def clear(self) -> None:
        with self._lock:
            freed = [held for models in self._sessions.values() for held in models.values()]
            self._sessions.clear()
            self._last_live.clear()
        self._freed(freed)

    def _freed(self, models: list[Held]) -> int:
        """Let go of ``models`` (taken out of the store, outside the lock): the list is
        emptied, so that the collection below frees them; returns how many there were."""
        count = len(models)
        if count:
            log.info("Freed %d uploaded model(s)", count)
            models.clear()
            gc.collect()  # Keras models hold reference cycles: free their weights now
        return count

    def _start_sweeping(self) -> None:
        """A daemon thread that frees idle models every SWEEP_SECONDS (started once)."""
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = threading.Thread(
                target=self._sweep_forever, name="cnnvis-own-models", daemon=True
            )
        self._sweeper.start()

    def _sweep_forever(self) -> None:
        while True:
            time.sleep(SWEEP_SECONDS)
            try:
                self.expire()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("Could not free idle uploaded models")


HELD = HeldModels(live=CONNECTIONS.is_live)


# ----- the session of a request ------------------------------------------------------------


def current_session() -> str | None:
    """The session of the Gradio request being served (None outside one): the
    ``session_hash`` of its ``gr.Request``. Read from Gradio's request context, as
    Gradio's own per-session cache does (``gradio.caching``), for the code that is given
    no ``gr.Request``: the model lookup under every handler."""
    from .gradio_compat import request_session

    return request_session()


def is_own_name(name: object) -> bool:
    return isinstance(name, str) and name.strip().startswith(PREFIX.strip())


def session_model(name: object) -> VisModel | None:
    """The requesting session's uploaded model called ``name``; None for a name that is
    not of an uploaded model (a registry name); :class:`UnknownModelError` for one that
    this session does not hold."""
    if not is_own_name(name):
        return None
    return HELD.get(current_session(), str(name).strip()).vis


def free_session(session: str | None) -> int:
    """Free the models of a session that ended (``demo.unload``)."""
    return HELD.free(session)


# ----- loading an upload ---------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A model's name as the page shows it: letters, digits and ``_ .+()-`` (others
    become ``_``), at most 40 characters."""
    return re.sub(r"[^\w .+()-]", "_", " ".join(str(name).split()))[:40].strip() or "model"


def load_upload(
    session: str | None,
    path: str,
    preprocessing: str,
    class_names: str | None = None,
    input_size: int | None = None,
) -> Held:
    """Check, load and hold a ``.keras`` file for ``session``: its size and parameters
    within the app's bounds, room among the held models (refused before any weight is
    built), then :func:`cnnvis.load_keras_file`. Raises a one-sentence CnnvisError."""
    import cnnvis

    from .file_bounds import MAX_MODEL_FILE_BYTES

    if not session:
        raise ParameterError(
            "An uploaded model belongs to a session of the page or of gradio_client; "
            "this request has none."
        )
    from ..models.own import keras_file_cost

    bounds = {"max_bytes": MAX_MODEL_FILE_BYTES, "max_parameters": MAX_MODEL_PARAMETERS}
    info = cnnvis.inspect_keras_file(path, **bounds)
    cost = keras_file_cost(path, input_size, max_bytes=MAX_MODEL_FILE_BYTES)
    check_cost(cost, flexible=input_size is None and None in info.input_shape[:2])
    if not CONNECTIONS.wait_live(session):
        raise ParameterError(
            "An uploaded model is kept only for a page (or gradio_client) that stays "
            "connected, and this session has no open connection (Gradio's heartbeat); "
            "reload the page and upload it again."
        )
    client = CONNECTIONS.client_of(session)
    HELD.check_room(session, info.parameters, client)
    vis = cnnvis.load_keras_file(
        path,
        preprocessing=preprocessing,
        class_names=class_names,
        input_size=input_size,
        name=safe_name(info.name),
        **bounds,
    )
    name = HELD.put(session, vis, info.parameters, client, cost)
    return HELD.get(session, name)


def check_cost(cost: ModelCost, flexible: bool = False) -> None:
    """Refuse, in one sentence naming the figure, a model whose one image costs more than
    :data:`MAX_PASS_BYTES` or :data:`MAX_MULTIPLY_ADDS` (``flexible``: estimated at the
    largest side, for no input size was given)."""
    height, width = cost.input_size
    at = f"at {height}×{width} pixels" + (" (its input is flexible: give an input size)" if flexible else "")
    if cost.pass_bytes > MAX_PASS_BYTES:
        raise ModelFileError(
            f"One image through this model {at} needs about {cost.pass_bytes / MB:,.0f} MB of "
            f"activations for a forward and a backward pass; the limit is {MAX_PASS_BYTES // MB:,} MB."
        )
    if cost.multiply_adds > MAX_MULTIPLY_ADDS:
        raise ModelFileError(
            f"One image through this model {at} takes about {cost.multiply_adds / 1e9:,.1f} billion "
            f"multiply-adds; the limit is {MAX_MULTIPLY_ADDS / 1e9:,.0f} billion."
        )


def lane_of(name: object, lane: str) -> str:
    """The lane for work on the model ``name`` that its technique puts in ``lane``: an
    uploaded model of this session that costs more than the quick lane's bounds works in
    the long lane."""
    if lane != "quick" or not is_own_name(name):
        return lane
    try:
        return HELD.get(current_session(), str(name).strip()).lane
    except UnknownModelError:
        return lane  # the handler says so in its own sentence


def picker_entry(held: Held) -> tuple[str, str]:
    """The model picker's entry for an uploaded model: (label, value)."""
    height, width = held.vis.input_size
    size = f"{height} px" if height and height == width else (
        f"{height}×{width} px" if height and width else "any size"
    )
    return f"{held.name} · {size} · {held.vis.num_classes} classes", held.name


def describe(held: Held) -> str:
    """What was loaded, in words, for the page."""
    vis = held.vis
    height, width = vis.input_size
    size = f"{height}×{width} pixels" if height and width else "photos at their own size"
    names = vis.class_names
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        classes = f"{len(names)} classes ({shown})"
    else:
        classes = f"{vis.num_classes} classes (numbered; give a class-names file to name them)"
    head = vis.head.note or "no final activation: its outputs are read as logits"
    return (
        f"**{held.name}** is loaded, for you only: {held.parameters:,} parameters, "
        f"{len(vis.visual_layers)} layers to explore, sees {size}, {classes}; its default "
        f"Grad-CAM layer is `{vis.default_layer}`; {head}; preprocessing "
        f"`{vis.preprocessing.name}`. It is chosen in the model picker above, so every tab "
        f"explains it. It is freed when you close this page, or after "
        f"{IDLE_SECONDS // 60} minutes unused; a new upload replaces it."
    )
