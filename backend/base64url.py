"""Base64url without padding (RFC 4648 §5), as cursors and JOSE (JWT, JWK) spell bytes."""

import base64
import binascii


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of base64url `text` (padding optional); ValueError for anything else,
    characters outside the alphabet included (the standard decoder would skip them)."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("not base64url") from None
