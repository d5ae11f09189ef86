"""What a visitor sees when something fails: one sentence, never a stack trace.

cnnvis' own errors (:class:`cnnvis.errors.CnnvisError`) are one sentence already and are
shown as they are; running out of memory gets the package's sentence for it; anything
unexpected is logged for the maintainers and shown as :data:`GENERIC_ERROR`.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable

import gradio as gr

from ..errors import CnnvisError, is_out_of_memory, out_of_memory_message

log = logging.getLogger("cnnvis.app")

GENERIC_ERROR = (
    "Something went wrong while computing this (the details were logged for the "
    "maintainers); please try again, or try other settings."
)
MEMORY_ERROR = out_of_memory_message()  # the sentence of cnnvis' ComputeError


def user_error(error: Exception) -> gr.Error:
    """One sentence for the user: ours as they are, anything unexpected logged and hidden."""
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, CnnvisError):
        return gr.Error(str(error), print_exception=False)
    if is_out_of_memory(error):
        log.warning("Out of memory: %s", type(error).__name__)
        return gr.Error(MEMORY_ERROR, print_exception=False)
    log.error("Unexpected error in a request", exc_info=error)
    return gr.Error(GENERIC_ERROR, print_exception=False)


def friendly(fn: Callable) -> Callable:
    """``fn`` (a function or a generator function) with every exception turned into a
    ``gr.Error`` by :func:`user_error`; its signature is kept (Gradio reads it)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as error:
                raise user_error(error) from None

        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            raise user_error(error) from None

    return call
