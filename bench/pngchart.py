"""A tiny PNG writer and a horizontal bar chart of ratios, with a 5x7 bitmap font (no matplotlib).

Owns: pixels -> PNG bytes (zlib + struct, 8-bit RGB, filter 0), the glyph table, the chart layout.
Must not touch: the numbers (it draws whatever rows it is given).
"""

from __future__ import annotations

import math
import struct
import zlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (220, 220, 220)
GOOD: Color = (60, 160, 80)
BAD: Color = (210, 80, 70)
MISSING: Color = (170, 170, 170)

# 5x7 glyphs, one string per glyph: 7 rows of 5 cells, '#' = ink. Drawn for this file.
_GLYPHS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "####. ....# ....# .###. ....# ....# ####.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": ".###. #.... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ....# .###.",
    " ": "..... ..... ..... ..... ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "/": "....# ....# ...#. ..#.. .#... #.... #....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "%": "##..# ##..# ...#. ..#.. .#... #..## #..##",
    "=": "..... ..... ##### ..... ##### ..... .....",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
}
GLYPH_W, GLYPH_H = 5, 7


class Canvas:
    """An RGB pixel buffer with rectangles and text."""

    def __init__(self, width: int, height: int, bg: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(bg) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        """Fill a rectangle, clipped to the canvas."""
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes(color) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x: int, y: int, s: str, color: Color = BLACK, scale: int = 2) -> int:
        """Draw `s` (upper-cased) with its top-left at (x, y); returns the x after it."""
        for ch in s.upper():
            rows = _GLYPHS.get(ch, _GLYPHS["?"]).split()
            for r, bits in enumerate(rows):
                for c, bit in enumerate(bits):
                    if bit == "#":
                        self.rect(x + c * scale, y + r * scale, scale, scale, color)
            x += (GLYPH_W + 1) * scale
        return x

    def png(self) -> bytes:
        """The canvas as PNG file bytes."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride])
                       for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def text_width(s: str, scale: int = 2) -> int:
    """Pixel width of `s` as Canvas.text draws it."""
    return len(s) * (GLYPH_W + 1) * scale


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def axis_max(values: Sequence[float], ref: float) -> float:
    """Right end of the value axis: a round number past the largest value and past 2 * ref."""
    finite = [v for v in values if math.isfinite(v)]
    top = max([ref * 2, *finite]) * 1.08
    step = 0.5 if top <= 4 else 1.0 if top <= 10 else 5.0
    return math.ceil(top / step) * step


def bar_chart(rows: Sequence[tuple[str, float]], title: str, ref: float = 1.0) -> bytes:
    """Horizontal bars, one per (label, value), with a vertical line at `ref`; returns PNG bytes.

    Bars at or under `ref` are green, over it red; NaN values get a grey "N/A".
    """
    scale, row_h, pad = 2, 30, 16
    label_w = max([text_width(lbl) for lbl, _ in rows] + [100]) + 2 * pad
    plot_w = 560
    value_w = 110
    top = 60
    width = label_w + plot_w + value_w
    height = top + row_h * len(rows) + 70
    cv = Canvas(width, height)
    cv.text(pad, 14, title, scale=scale)
    vmax = axis_max([v for _, v in rows], ref)

    def xof(v: float) -> int:
        return label_w + int(plot_w * min(v, vmax) / vmax)

    step = 0.5 if vmax <= 4 else 1.0 if vmax <= 10 else 5.0
    ticks = [k * step for k in range(round(vmax / step) + 1)]
    bottom = top + row_h * len(rows)
    for t in ticks:  # grid and tick labels
        cv.rect(xof(t), top - 6, 1, bottom - top + 12, GRID)
        lbl = f"{t:g}"
        cv.text(xof(t) - text_width(lbl) // 2, bottom + 12, lbl, scale=scale)
    for k, (_, value) in enumerate(rows):  # bars, then the parity line, then text on top
        if math.isfinite(value):
            cv.rect(label_w, top + k * row_h + 5, max(1, xof(value) - label_w), row_h - 10,
                    GOOD if value <= ref else BAD)
    cv.rect(xof(ref), top - 10, 2, bottom - top + 20, BLACK)
    for k, (label, value) in enumerate(rows):
        y = top + k * row_h
        cv.text(label_w - pad - text_width(label), y + 8, label, scale=scale)
        if math.isfinite(value):
            cv.text(max(xof(value), xof(ref) + 2) + 6, y + 8, f"{value:.2f}X", scale=scale)
        else:
            cv.text(label_w + 6, y + 8, "N/A", MISSING, scale=scale)
    legend_y = bottom + 40
    cv.rect(pad, legend_y, 14, 14, GOOD)
    x = cv.text(pad + 24, legend_y, f"<= {ref:g} PYRUNTIME BETTER", scale=scale)
    cv.rect(x + 24, legend_y, 14, 14, BAD)
    cv.text(x + 48, legend_y, f"> {ref:g} RUNC BETTER", scale=scale)
    return cv.png()
