"""The book's figure style: the alt text that names every figure's axes (the browser test relies on its wording)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minitorch_xf import plot


def test_labelled_axes_are_named_and_unlabelled_ones_flagged():
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1], [1, 0])
    a.set_xlabel("training step")
    a.set_ylabel("loss")
    b.plot([0, 1], [0, 1])
    b.set_xlabel("sequence length n")
    text = plot.describe_figure(fig)
    plt.close(fig)
    assert "x = training step; y = loss" in text
    assert "x = sequence length n; y = unlabelled y axis" in text


def test_twin_axis_needs_only_its_y_label_and_empty_panels_are_skipped():
    fig, (ax, empty) = plt.subplots(1, 2)
    ax.plot([0, 1], [1, 2])
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    twin = ax.twinx()
    twin.plot([0, 1], [0.5, 0.9])
    twin.set_ylabel("accuracy")
    empty.axis("off")
    text = plot.describe_figure(fig)
    plt.close(fig)
    assert "unlabelled" not in text, text
    assert text.count("plot") == 2 and "accuracy" in text


def test_an_empty_figure_says_so():
    fig = plt.figure()
    assert plot.describe_figure(fig) == "figure without data"
    plt.close(fig)


def test_nbval_fails_a_cell_whose_figure_has_an_unlabelled_axis():
    """conftest.py reads each figure's alt text from the cell's outputs; the wording is describe_figure's."""
    from conftest import unlabelled_figures

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("step")
    png = {"output_type": "display_data", "data": {"image/png": "..."}}
    bad = dict(png, metadata={"image/png": {"alt": plot.describe_figure(fig)}})
    ax.set_ylabel("loss")
    good = dict(png, metadata={"image/png": {"alt": plot.describe_figure(fig)}})
    plt.close(fig)
    assert unlabelled_figures([good, {"output_type": "stream", "text": "x"}]) == []
    assert "unlabelled y axis" in unlabelled_figures([bad])[0]
    assert "without the book's alt text" in unlabelled_figures([dict(png, metadata={})])[0]


def test_a_colour_bar_is_described_by_its_label():
    fig, ax = plt.subplots()
    image = ax.imshow([[0.0, 1.0], [1.0, 0.0]])
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    bar = fig.colorbar(image)
    assert "unlabelled colour bar" in plot.describe_figure(fig)
    bar.set_label("attention weight")
    text = plot.describe_figure(fig)
    plt.close(fig)
    assert "colour bar: attention weight" in text and "unlabelled" not in text, text
