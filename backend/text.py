"""Text normalisation shared by titles, names and tags."""

# The spaces openapi.yaml's Title, Name and TagName patterns name: exactly these are trimmed
# (str.strip() would also take U+001C to U+001F, which the contract treats as control
# characters). tests/test_text.py holds this to the contract's pattern.
TEXT_SPACES = (
    " \u0085\u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)


def trimmed(text: str) -> str | None:
    """Surrounding spaces removed; None when nothing is left."""
    return text.strip(TEXT_SPACES) or None
