"""A tiny raster canvas for the sweep plots: lines, rectangles and a 3×5 bitmap font on a numpy RGB array.

matplotlib is not a dependency and Pillow is not installed everywhere; a plot of a few lines and labels needs
neither. The font covers digits, capitals and a few signs (lower case is drawn as upper case).
"""

from __future__ import annotations

import numpy as np

Colour = tuple[int, int, int]

_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "-": "000000111000000", ".": "000000000000010",
    ":": "000010000010000", "=": "000111000111000", "+": "000010111010000", "/": "001001010100100",
    "(": "010100100100010", ")": "010001001001010", " ": "000000000000000", "A": "010101111101101",
    "B": "110101110101110", "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101", "I": "111010010010111",
    "J": "001001001101010", "K": "101101110101101", "L": "100100100100111", "M": "101111111101101",
    "N": "111101101101101", "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011",
    "R": "110101110101101", "S": "011100010001110", "T": "111010010010010", "U": "101101101101111",
    "V": "101101101101010", "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010",
    "Z": "111001010100111", "%": "101001010100101", "×": "000101010101000",
}  # fmt: skip
GLYPH_W, GLYPH_H = 3, 5


class Canvas:
    """An RGB image (white) with drawing in pixel coordinates, y downwards."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.full((height, width, 3), 255, np.uint8)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """Fill [x0, x1) × [y0, y1), clipped to the image."""
        x0, x1 = sorted((max(0, x0), min(self.width, x1)))
        y0, y1 = sorted((max(0, y0), min(self.height, y1)))
        if x1 > x0 and y1 > y0:
            self.pixels[y0:y1, x0:x1] = colour

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: Colour, width: int = 2, dash: int = 0) -> None:
        """A straight line `width` pixels thick; `dash` > 0 draws dashes of that many pixels with equal gaps."""
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.linspace(x0, x1, steps).round().astype(int)
        ys = np.linspace(y0, y1, steps).round().astype(int)
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if dash and (i // dash) % 2:
                continue
            self.rect(x - width // 2, y - width // 2, x - width // 2 + width, y - width // 2 + width, colour)

    def text(self, x: int, y: int, text: str, colour: Colour = (40, 40, 40), scale: int = 2) -> None:
        """`text` with its top-left corner at (x, y); unknown characters are left blank."""
        for i, ch in enumerate(text.upper()):
            glyph = _GLYPHS.get(ch)
            if glyph is None:
                continue
            left = x + i * (GLYPH_W + 1) * scale
            for row in range(GLYPH_H):
                for col in range(GLYPH_W):
                    if glyph[row * GLYPH_W + col] == "1":
                        px, py = left + col * scale, y + row * scale
                        self.rect(px, py, px + scale, py + scale, colour)


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * (GLYPH_W + 1) * scale - scale if text else 0


def number(value: float) -> str:
    """A short label for an axis value."""
    if value == 0:
        return "0"
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.3g}"
