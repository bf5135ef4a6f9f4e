"""Explorers: live ipywidgets in a running notebook, and a static slider that keeps working in
the HTML book without a kernel.

The static version pre-renders a few PNG frames and puts them in a ``widgets.Stack`` whose
``selected_index`` is linked in the browser (``jslink``) to an ``IntSlider``; myst-nb embeds the
widget state in the page, so moving the slider changes the frame with no Python running.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt

from .plots import figure_to_png

__all__ = ["frame_slider", "live_explorer"]

MAX_FRAMES = 24  # frames are stored base64 in the notebook: keep them few and small


def frame_slider(
    frames: Sequence[bytes | plt.Figure],
    labels: Sequence[str],
    *,
    description: str = "frame",
    dpi: int = 80,
):
    """A slider over pre-rendered frames that works in the static book.

    ``frames``: PNG bytes or matplotlib figures (rendered at ``dpi`` and closed), one per slider
    position. ``labels``: the text shown next to the slider for each frame (same length).
    Returns an ``ipywidgets.VBox`` (slider + label above the frame stack); its ``links`` attribute
    holds the two ``jslink`` objects.
    """
    import ipywidgets as widgets

    from . import _validate

    if isinstance(frames, (str, bytes)) or not isinstance(frames, Sequence):
        raise ValueError(f"frames must be a list of PNG bytes or matplotlib figures, got {type(frames).__name__}")
    labels = _validate.strings("labels", labels, allow_empty=True)
    if not isinstance(description, str):
        raise ValueError(f"description must be a string, got {type(description).__name__}")
    _validate.positive_int("dpi", dpi)
    if len(frames) == 0:
        raise ValueError("frames must hold at least one frame, got none")
    if len(frames) > MAX_FRAMES:
        raise ValueError(f"frames must hold at most {MAX_FRAMES} frames (they are stored in the notebook), got {len(frames)}")
    if len(labels) != len(frames):
        raise ValueError(f"labels must have one entry per frame ({len(frames)}), got {len(labels)}")
    for i, frame in enumerate(frames):
        if not isinstance(frame, (bytes, bytearray, plt.Figure)):
            raise ValueError(f"frames must hold PNG bytes or matplotlib figures, but frames[{i}] is a {type(frame).__name__}")
    pngs = [f if isinstance(f, (bytes, bytearray)) else figure_to_png(f, dpi=dpi) for f in frames]
    images = [widgets.Image(value=bytes(p), format="png") for p in pngs]
    stack = widgets.Stack(images, selected_index=0)
    slider = widgets.IntSlider(value=0, min=0, max=len(frames) - 1, description=description,
                               readout=False, continuous_update=True)
    caption = widgets.Stack([widgets.HTML(f"<b>{label}</b>") for label in labels], selected_index=0)
    box = widgets.VBox([widgets.HBox([slider, caption]), stack])
    box.links = (  # browser-side links: they keep working in the static HTML book
        widgets.jslink((slider, "value"), (stack, "selected_index")),
        widgets.jslink((slider, "value"), (caption, "selected_index")),
    )
    return box


def live_explorer(plot: Callable[..., Any], **controls: Any):
    """Wrap ``ipywidgets.interact``: ``plot(**values)`` draws a figure for the chosen values.

    ``controls`` are what ``interact`` accepts (a ``(min, max, step)`` tuple, a list of options,
    or a widget). Needs a running kernel; in the static book use :func:`frame_slider` beside it.
    Tag cells that call this ``nbval-ignore-output``.
    """
    import ipywidgets as widgets

    if not callable(plot):
        raise ValueError(f"plot must be callable, got {type(plot).__name__}")
    if not controls:
        raise ValueError("controls must name at least one slider, e.g. feature_probability=(0.01, 1.0, 0.01)")
    return widgets.interact(plot, **controls)
