"""Reproducible randomness and uuid-shaped keys that can be traced back to their day."""

from __future__ import annotations

import hashlib
import random
from datetime import date

_NODE_BITS = 48
_NODE_MASK = (1 << _NODE_BITS) - 1
_INDEX_BITS = 28  # room for 268M rows a day, far beyond any benchmark volume
# Multiplying by an odd constant is a bijection modulo 2**48: keys stay decodable but
# consecutive rows don't get visibly consecutive ids.
_SCRAMBLE = 0x9E3779B97F4B
_UNSCRAMBLE = pow(_SCRAMBLE, -1, 1 << _NODE_BITS)


def seeded_rng(seed: int, *parts: object) -> random.Random:
    """A generator that depends only on `seed` and `parts`.

    Python's hash() is salted per process, so the parts are hashed with blake2b instead:
    two servers, or two runs, draw exactly the same numbers.
    """
    text = ":".join(str(part) for part in (seed, *parts))
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


def random_uuid(rng: random.Random) -> str:
    """A version-4 uuid string drawn from `rng`."""
    return _format(rng.getrandbits(128))


def day_uuid(rng: random.Random, day: date, index: int) -> str:
    """A version-4 uuid whose last 48 bits encode (day, index): unique across days by construction,
    and a lookup by id only has to generate one day."""
    node = (((day.toordinal() << _INDEX_BITS) | index) * _SCRAMBLE) & _NODE_MASK
    return _format((rng.getrandbits(80) << _NODE_BITS) | node)


def day_of(key: str) -> date | None:
    """The day encoded in a `day_uuid`, or None when `key` can't be one."""
    try:
        number = int(key.replace("-", ""), 16)
    except ValueError:
        return None
    if len(key) != 36 or number >> 128:
        return None
    ordinal = (((number & _NODE_MASK) * _UNSCRAMBLE) & _NODE_MASK) >> _INDEX_BITS
    try:
        return date.fromordinal(ordinal)
    except ValueError:
        return None


def _format(number: int) -> str:
    # Set the version (4) and variant (RFC 4122) bits, as uuid.uuid4() would.
    number = (number & ~(0xF000 << 64)) | (0x4000 << 64)
    number = (number & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{number:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
