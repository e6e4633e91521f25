"""read_page reads a page with one open and (usually) one read; the bytes are all there even
when the file is not the size fstat said."""

from __future__ import annotations

import os
import threading

import pytest

from livepipe.sources.files import _read_all


@pytest.mark.parametrize("told", [0, 4, 10, 11, 13, 64])
def test_every_byte_whatever_size_was_told(told: int) -> None:
    # A pipe hands out what was written, whatever size the caller expected: shorter (the file
    # grew after fstat) or longer (a short read) than the truth.
    read, write = os.pipe()
    payload = "页面 page\n".encode()  # 13 bytes, a UTF-8 character across the 4- and 10-byte marks
    try:
        os.write(write, payload)
        os.close(write)
        assert _read_all(read, told) == payload
    finally:
        os.close(read)


def test_bytes_arriving_in_pieces_are_joined() -> None:
    read, write = os.pipe()
    pieces = [b"a" * 70_000, b"b" * 5, b"c" * 100_000]

    def feed() -> None:
        for piece in pieces:
            os.write(write, piece)
        os.close(write)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert _read_all(read, 10) == b"".join(pieces)
    finally:
        writer.join()
        os.close(read)
