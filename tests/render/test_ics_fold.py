"""Line folding (RFC 5545 §3.1): ≤ 75 octets, never inside a UTF-8 character or an escape."""

from __future__ import annotations

import random

import pytest

from livepipe.render.ics import fold

ALPHABET = "abc ,;:\\^长城🎉é\t-" + "x" * 10


@pytest.mark.parametrize("seed", range(400))
def test_fold_round_trips_and_respects_limits(seed: int) -> None:
    rng = random.Random(seed)
    line = "DESCRIPTION:" + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 400)))
    folded = fold(line)
    assert folded.endswith(b"\r\n")
    physical = folded[:-2].split(b"\r\n")
    assert b"".join([physical[0], *(p[1:] for p in physical[1:])]).decode("utf-8") == line
    for i, part in enumerate(physical):
        assert len(part) <= 75
        part.decode("utf-8")  # never splits a character
        if i:
            assert part.startswith(b" ")
        if i < len(physical) - 1:
            trailing = len(part) - len(part.rstrip(b"\\"))
            assert trailing % 2 == 0, part  # an escape never ends a physical line


def test_short_line_is_untouched() -> None:
    assert fold("SUMMARY:hello") == b"SUMMARY:hello\r\n"
    assert fold("X:" + "a" * 73) == b"X:" + b"a" * 73 + b"\r\n"  # exactly 75 octets
    assert fold("X:" + "a" * 74) == b"X:" + b"a" * 73 + b"\r\n a\r\n"
