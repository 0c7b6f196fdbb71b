"""Colours and shapes that every student can tell apart (WCAG 2.1 1.4.1, 1.4.3, 1.4.11): the
theme's text and primary colours reach 4.5:1, every chart mark 3:1 on its background (white;
the projector's #111111 in presentation mode), each class has its own marker shape, and the
latent-plane component draws the same classes as the figures."""
import re
import tomllib

import pytest

from conftest import ROOT
from explorer.figures import classroom as classroom_figures
from explorer.figures import common
from explorer.figures import training as training_figures


def luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def over(fg: str, bg: str, alpha: float) -> str:
    """``fg`` drawn at ``alpha`` opacity over ``bg``."""
    f, g = (int(fg[i:i + 2], 16) for i in (1, 3, 5)), (int(bg[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(alpha * x + (1 - alpha) * y):02x}" for x, y in zip(f, g))


def test_contrast_helper_matches_the_wcag_examples():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_the_theme_reaches_4_5_to_1_for_text_including_captions():
    theme = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"]
    text, primary, code = theme["textColor"], theme["primaryColor"], theme["codeTextColor"]
    assert contrast(text, "#ffffff") >= 4.5
    # Streamlit draws captions, slider ends and help text at 60% opacity
    assert contrast(over(text, "#ffffff", 0.6), "#ffffff") >= 4.5
    assert contrast(over(code, "#fdfdfd", 0.6), "#fdfdfd") >= 4.5          # inline code in a caption
    assert contrast(primary, "#ffffff") >= 4.5 and contrast(primary, "#f0f2f6") >= 4.5


@pytest.mark.parametrize("name,colours,background", [
    ("classes", common.CLASS_COLORS, "#ffffff"),
    ("training/validation", list(training_figures.SPLIT_COLORS.values()), "#ffffff"),
    ("β/lr changes", list(training_figures.EVENT_COLORS.values()), "#ffffff"),
    ("classes on the projector", classroom_figures.PRESENT_COLORS, "#111111"),
])
def test_chart_marks_reach_3_to_1_on_their_background(name, colours, background):
    low = {c: round(contrast(c, background), 2) for c in colours if contrast(c, background) < 3.0}
    assert not low, f"{name}: {low}"


def test_each_class_has_its_own_shape_and_the_component_draws_the_same():
    assert len(set(common.CLASS_SYMBOLS)) == len(common.CLASS_SYMBOLS) == len(common.CLASS_COLORS) == 10
    assert len(set(common.class_shapes(10))) == 10
    js = (ROOT / "explorer" / "ui" / "components" / "latent_plane" / "src" / "a11y.js").read_text()
    colours = re.findall(r'"(#[0-9A-Fa-f]{6})"', js.split("CLASS_COLORS = [", 1)[1].split("]", 1)[0])
    shapes = re.findall(r'"([a-z-]+)"', js.split("CLASS_SHAPES = [", 1)[1].split("]", 1)[0])
    assert [c.upper() for c in colours] == [c.upper() for c in common.CLASS_COLORS]
    assert shapes == common.CLASS_SYMBOLS
    built = (ROOT / "explorer" / "ui" / "components" / "latent_plane" / "build" / "latent_plane.js").read_text()
    assert all(c in built for c in colours), "the built component is older than src/a11y.js: run its build"
