"""pngchart: valid PNG bytes, glyph table shape, chart layout edge cases."""

from __future__ import annotations

import math
import struct
import zlib

import pngchart


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        out.append((kind, data))
        pos += 12 + length
    return out


def test_canvas_png_small_canvas_decodes_to_pixels() -> None:
    cv = pngchart.Canvas(3, 2)
    cv.rect(1, 0, 1, 1, (1, 2, 3))
    parts = chunks(cv.png())
    assert [k for k, _ in parts] == [b"IHDR", b"IDAT", b"IEND"]
    w, h, depth, ctype = struct.unpack(">IIBB", parts[0][1][:10])
    assert (w, h, depth, ctype) == (3, 2, 8, 2)
    raw = zlib.decompress(parts[1][1])
    assert len(raw) == h * (1 + 3 * w)
    assert raw[0] == 0 and raw[1 + 3:1 + 6] == bytes((1, 2, 3))


def test_canvas_rect_outside_canvas_is_clipped() -> None:
    cv = pngchart.Canvas(4, 4)
    cv.rect(-10, -10, 100, 11, (0, 0, 0))
    assert cv.pixels[:3] == b"\x00\x00\x00"
    assert cv.pixels[-3:] == b"\xff\xff\xff"


def test_glyphs_every_glyph_is_5x7() -> None:
    for ch, glyph in pngchart._GLYPHS.items():
        rows = glyph.split()
        assert len(rows) == 7, ch
        assert all(len(r) == 5 and set(r) <= {"#", "."} for r in rows), ch


def test_text_unknown_character_draws_question_mark_width() -> None:
    cv = pngchart.Canvas(40, 20)
    assert cv.text(0, 0, "~") == pngchart.text_width("~")


def test_bar_chart_nan_and_large_values_render() -> None:
    png = pngchart.bar_chart([("run", 0.5), ("state", math.nan), ("burst", 12.0)], "T")
    kinds = [k for k, _ in chunks(png)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"


def test_axis_max_values_small_at_least_twice_ref() -> None:
    assert pngchart.axis_max([0.3], 1.0) >= 2.0
    assert pngchart.axis_max([7.9, math.nan], 1.0) >= 7.9
