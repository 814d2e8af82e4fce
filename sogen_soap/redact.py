"""Masking of card numbers and seals for anything a person or a log may see."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["mask_pan", "redact_text"]

# 12 to 19 digits, optionally grouped by spaces or dashes, not inside a longer
# run of digits: the shape of a clear PAN in free text.
_PAN_IN_TEXT: Final = re.compile(r"(?<![0-9])(?:[0-9][ -]?){11,18}[0-9](?![0-9])")
_HEX_DIGEST: Final = re.compile(
    r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?:[0-9a-fA-F]{64})?(?![0-9a-fA-F])"
)


def mask_pan(card_number: str) -> str:
    """The vendor's mask: first 4 and last 2 characters clear, the rest ``#``.

    Values too short to mask that way are hidden completely.
    """
    if len(card_number) < 10:
        return "#" * len(card_number)
    return card_number[:4] + "#" * (len(card_number) - 6) + card_number[-2:]


def redact_text(text: str) -> str:
    """Mask every PAN-shaped digit run and hide every seal-shaped digest."""
    text = _PAN_IN_TEXT.sub(lambda m: mask_pan(re.sub(r"[ -]", "", m.group(0))), text)
    return _HEX_DIGEST.sub("<seal>", text)
