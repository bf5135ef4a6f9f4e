import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from superpos_lib.plots import figure_to_png, use_course_style
from superpos_lib.widgets import MAX_FRAMES, frame_slider, live_explorer


def _figure(k):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, k])
    return fig


def test_figure_to_png_is_opaque_png():
    use_course_style()
    png = figure_to_png(_figure(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    import io

    image = Image.open(io.BytesIO(png))
    assert image.mode in ("RGB", "RGBA")
    if image.mode == "RGBA":
        assert image.getextrema()[3][0] == 255  # no transparent pixel


def test_frame_slider_links_slider_to_stack():
    box = frame_slider([_figure(k) for k in range(3)], ["a", "b", "c"], description="k")
    (controls, stack) = box.children
    slider, caption = controls.children
    assert isinstance(stack, widgets.Stack) and len(stack.children) == 3
    assert (slider.min, slider.max) == (0, 2)
    pairs = {(link.source, link.target) for link in box.links}
    assert pairs == {((slider, "value"), (stack, "selected_index")), ((slider, "value"), (caption, "selected_index"))}


def test_frame_slider_bad_input():
    with pytest.raises(ValueError, match="frames must hold at least one"):
        frame_slider([], [])
    with pytest.raises(ValueError, match="labels must have one entry per frame"):
        frame_slider([b"x", b"y"], ["only one"])
    with pytest.raises(ValueError, match=f"at most {MAX_FRAMES}"):
        frame_slider([b"x"] * (MAX_FRAMES + 1), ["l"] * (MAX_FRAMES + 1))


def test_live_explorer_bad_input():
    with pytest.raises(ValueError, match="plot must be callable"):
        live_explorer(3, p=(0, 1))
    with pytest.raises(ValueError, match="controls must name"):
        live_explorer(lambda: None)


def test_frame_slider_rejects_what_is_not_a_frame():
    with pytest.raises(ValueError, match=r"frames must hold PNG bytes or matplotlib figures, but frames\[1\]"):
        frame_slider([b"x", "figure.png"], ["a", "b"])
    with pytest.raises(ValueError, match="frames must be a list"):
        frame_slider("figure.png", ["a"])
    with pytest.raises(ValueError, match="labels must be a list of strings"):
        frame_slider([b"x"], "a")
    with pytest.raises(ValueError, match="labels must hold only strings"):
        frame_slider([b"x"], [1])
    with pytest.raises(ValueError, match="dpi"):
        frame_slider([b"x"], ["a"], dpi=0)


def test_figure_to_png_rejects_what_is_not_a_figure():
    fig = _figure(1)
    with pytest.raises(ValueError, match="fig must be a matplotlib Figure"):
        figure_to_png(fig.axes[0])
    with pytest.raises(ValueError, match="dpi"):
        figure_to_png(fig, dpi=2.5)
    plt.close(fig)
