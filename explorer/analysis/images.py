"""Explore's "encode your image": an uploaded PNG or JPEG turned into an item like the
training data (grey or colour, light strokes on black, centred, resized), checked before
it is decoded (size, pixel count, format; PIL's own limit is set too)."""
from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError


class ImageError(ValueError):
    """An uploaded file cannot be used as an image; the message says why."""


MAX_UPLOAD_BYTES = 10 * 2**20
MAX_PIXELS = 25_000_000
ACCEPTED_FORMATS = ("PNG", "JPEG")


def _limit_pil() -> None:
    """PIL refuses images above 2 × ``Image.MAX_IMAGE_PIXELS`` and warns above it: lower its
    limit to ours (never raise it), once, so a decompression bomb fails at ``Image.open``."""
    Image.MAX_IMAGE_PIXELS = min(Image.MAX_IMAGE_PIXELS or MAX_PIXELS, MAX_PIXELS)


_limit_pil()


def prepare_upload(data: bytes, image_shape, *, max_bytes: int = MAX_UPLOAD_BYTES,
                   max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An uploaded PNG/JPEG as one item of the dataset's shape ``(C, H, W)``, float32 in [0, 1].

    Grey datasets (C = 1) are written as light strokes on a dark background (MNIST,
    digits), so: to grey; transparent parts filled with the background; inverted when the
    border (the background) is light; contrast stretched; cropped to the strokes and
    padded to a centred square with a margin (MNIST's 20-in-28 box); resized.
    Colour datasets: RGB, resized. Raises :class:`ImageError` for anything else: not an
    image, another format, too large (decompression bombs included), damaged, or blank.
    """

    c, h, w = (int(s) for s in image_shape)
    if c not in (1, 3):
        raise ImageError(f"this model's images have {c} channels; only 1 (grey) or 3 (colour) are supported")
    if not data:
        raise ImageError("the file is empty")
    if len(data) > max_bytes:
        raise ImageError(f"the file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB")
    try:
        with warnings.catch_warnings():         # PIL's "possible bomb" warning is an error here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format not in ACCEPTED_FORMATS:
                raise ImageError(f"this is a {img.format or 'unknown'} file; upload a PNG or JPEG image")
            if img.width * img.height > max_pixels:
                raise ImageError(f"the image is {img.width}×{img.height} pixels; the limit is "
                                 f"{max_pixels / 1e6:.0f} million pixels")
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"the image is too large: at most {min(max_pixels, MAX_PIXELS) / 1e6:.0f} "
                         f"million pixels are accepted (a possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageError("this file is not an image that can be read; upload a PNG or JPEG") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"the image is damaged or incomplete ({e})") from None

    rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
    alpha = rgba[..., 3]
    if c == 3:
        rgb = rgba[..., :3] * alpha[..., None] + (1 - alpha[..., None])
        out = Image.fromarray(np.uint8(np.round(rgb * 255))).resize((w, h), Image.Resampling.LANCZOS)
        return (np.asarray(out, np.float32) / 255.0).transpose(2, 0, 1).copy()
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    if alpha.min() < 0.99:   # transparent background: fill it so the strokes contrast
        shown = alpha.sum()
        ink = (grey * alpha).sum() / shown if shown > 0 else 0.0
        grey = alpha * grey + (1 - alpha) * (1.0 if ink < 0.5 else 0.0)
    return _grey_to_item(grey, h, w)


def _grey_to_item(g: np.ndarray, h: int, w: int) -> np.ndarray:

    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:
        g = 1.0 - g
        border = 1.0 - border
    bg = float(np.median(border))
    top = float(g.max())
    if top - bg < 0.05:
        raise ImageError("the image is blank: no strokes stand out from the background")
    g = np.clip((g - bg) / (top - bg), 0.0, 1.0)
    rows = np.nonzero((g > 0.2).any(1))[0]
    cols = np.nonzero((g > 0.2).any(0))[0]
    g = g[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    margin = 4 / 28 if h >= 20 else 0.5 / 8      # MNIST: 20×20 box in 28×28; digits fill 8×8
    side = int(math.ceil(max(g.shape) / (1 - 2 * margin)))
    canvas = np.zeros((side, side))
    r0, c0 = (side - g.shape[0]) // 2, (side - g.shape[1]) // 2
    canvas[r0:r0 + g.shape[0], c0:c0 + g.shape[1]] = g
    small = Image.fromarray(np.uint8(np.round(canvas * 255))).resize((w, h), Image.Resampling.LANCZOS)
    out = np.asarray(small, np.float32) / 255.0
    if out.max() > 0:
        out = out / out.max()
    return np.clip(out, 0.0, 1.0)[None]
