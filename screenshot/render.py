#!/usr/bin/env python3
"""Renders a terminal capture (text with ANSI colour codes, as `tmux
capture-pane -e -p` prints it) to a PNG picture of that terminal.

usage: render.py CAPTURE.ans OUT.png --cols 90 --rows 16 --title TITLE [--cursor X,Y]
"""
import argparse

import pyte
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
BACKGROUND = (30, 31, 40)
FOREGROUND = (220, 221, 226)
TITLE_BAR = (52, 54, 66)
# A common dark terminal palette (normal, then bright).
PALETTE = {
    "black": (40, 42, 54), "red": (230, 80, 80), "green": (80, 200, 120),
    "brown": (220, 180, 80), "blue": (90, 140, 240), "magenta": (200, 110, 220),
    "cyan": (80, 200, 220), "white": (200, 200, 200),
    "brightblack": (110, 112, 128), "brightred": (255, 110, 110),
    "brightgreen": (120, 235, 150), "brightbrown": (250, 220, 110),
    "brightblue": (130, 170, 255), "brightmagenta": (235, 140, 250),
    "brightcyan": (120, 230, 245), "brightwhite": (255, 255, 255),
}


def colour(name, default):
    if name == "default":
        return default
    if name in PALETTE:
        return PALETTE[name]
    try:  # 24-bit colours come as hex strings
        return tuple(int(name[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return default


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("capture")
    parser.add_argument("out")
    parser.add_argument("--cols", type=int, default=90)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--title", default="")
    parser.add_argument("--cursor", default="", help="X,Y of the cursor, as tmux reports it")
    args = parser.parse_args()

    screen = pyte.Screen(args.cols, args.rows)
    stream = pyte.ByteStream(screen)
    with open(args.capture, "rb") as f:
        # capture-pane ends every line with \n, the last one too: a terminal
        # needs \r\n between lines, and none after the last (it would scroll).
        data = f.read()
        if data.endswith(b"\n"):
            data = data[:-1]
        stream.feed(data.replace(b"\n", b"\r\n"))

    font = ImageFont.truetype(FONT, 15)
    bold = ImageFont.truetype(FONT_BOLD, 15)
    left, top, right, bottom = font.getbbox("M")
    cell_w, cell_h = right, 20
    pad, bar = 14, 28
    image = Image.new(
        "RGB", (args.cols * cell_w + 2 * pad, args.rows * cell_h + 2 * pad + bar), BACKGROUND
    )
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, image.width, bar], fill=TITLE_BAR)
    for i, c in enumerate([(255, 95, 86), (255, 189, 46), (39, 201, 63)]):
        draw.ellipse([12 + i * 20, 9, 24 + i * 20, 21], fill=c)
    draw.text((80, 6), args.title, font=font, fill=(180, 182, 194))

    for y in range(args.rows):
        line = screen.buffer[y]
        for x in range(args.cols):
            char = line[x]
            fg = colour(char.fg, FOREGROUND)
            bg = colour(char.bg, BACKGROUND)
            if char.bold and char.fg in PALETTE and not char.fg.startswith("bright"):
                fg = PALETTE.get("bright" + char.fg, fg)
            if char.reverse:
                fg, bg = bg, fg
            px, py = pad + x * cell_w, bar + pad + y * cell_h
            if bg != BACKGROUND:
                draw.rectangle([px, py, px + cell_w, py + cell_h], fill=bg)
            if char.data.strip():
                face = bold if char.bold else font
                draw.text((px, py + 2), char.data, font=face, fill=fg)
    if args.cursor:
        cx, cy = (int(v) for v in args.cursor.split(","))
        px, py = pad + cx * cell_w, bar + pad + cy * cell_h
        draw.rectangle([px, py + 2, px + cell_w - 1, py + cell_h - 1], outline=FOREGROUND)
    image.save(args.out)


if __name__ == "__main__":
    main()
