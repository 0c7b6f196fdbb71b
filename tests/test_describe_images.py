"""Text alternatives of Explore's pictures of decoded images, generated from the images: the
traversal rows that redraw the picture are named, an unused dimension is said to change
nothing, and the decoder's grid says along which axis the picture changes more."""
from __future__ import annotations

import numpy as np

from explorer import store
from explorer.analysis import latent
from explorer.figures import describe_images


def _model(name: str):
    return store.load_model(store.SHIPPED_ROOT / name)


def test_row_change_is_the_summed_mean_pixel_difference():
    rows = np.zeros((2, 3, 2, 2))
    rows[0, 1] = 0.5          # row 0: 0 -> 0.5 -> 0: two steps of 0.5
    assert np.allclose(describe_images.row_change(rows), [1.0, 0.0])


def test_traversals_name_the_dimension_that_redraws_the_digit_and_the_unused_one():
    model = _model("digits-vae-z2-b1")
    vals = latent.traversal_values(7, 3.0)
    _, imgs = latent.traversals(model, np.zeros(2), [0, 1], vals)
    imgs = np.asarray(imgs)
    still = np.repeat(imgs[:1, :1], 7, axis=1)        # a third row that never changes: an unused dimension
    grid = np.concatenate([imgs, still])
    labels, cols = ["z1", "z2", "z3"], [f"{v:+.1f}" for v in vals]
    change = describe_images.row_change(grid)
    text = describe_images.image_rows_summary(grid, labels, cols, "Traversals")
    assert text.startswith("Traversals: 3 rows of 7 decoded images, from -3.0 to +3.0.")
    top = labels[int(np.argmax(change))]
    assert f"{top} changes the picture the most" in text and change[2] == 0
    assert "z3 changes it not at all" in text
    table = describe_images.image_rows_table(grid, labels, cols)
    assert list(table["row"]) == labels and table["change of the picture"].iloc[2] == 0


def test_a_grid_of_one_image_says_every_tile_is_the_same_and_a_real_grid_names_its_axis():
    same = np.ones((9, 1, 8, 8)) * 0.3
    text = describe_images.manifold_summary(same, 3, ((-2, 2), (-1, 1)), ("z₁", "z₂"))
    assert "3×3 grid" in text and "z₁ from −2 to 2" in text.replace("-", "−") and "Every tile looks the same" in text
    model = _model("digits-vae-z2-b1")
    _, imgs = latent.decode_grid(model, ((-3, 3), (-3, 3)), 6)
    imgs = np.asarray(imgs)
    grid = imgs.reshape((6, 6) + imgs.shape[1:])
    along_x = describe_images.row_change(grid).mean()
    along_y = describe_images.row_change(np.swapaxes(grid, 0, 1)).mean()
    text = describe_images.manifold_summary(imgs, 6, ((-3, 3), (-3, 3)), ("z₁", "z₂"))
    more = "z₁" if along_x >= along_y else "z₂"
    assert f"changes more along {more}" in text and abs(along_x - along_y) > 0
