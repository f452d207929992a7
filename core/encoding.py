"""Text from outside (arguments, the environment, stdin, files) made sure to be UTF-8,
with an error that names where it is not, and the first bad byte."""

from __future__ import annotations

from . import errors


def decoded(data: bytes, what: str, error: type[errors.TetherError] = errors.UsageError) -> str:
    """`data` decoded as UTF-8; `error` naming `what` and the first bad byte otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        near = data[max(0, exc.start - 20) : exc.start + 20].decode("utf-8", "backslashreplace")
        raise error(
            f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}: "
            f"'{near}'); convert it first, e.g. with: iconv -f latin1 -t utf-8"
        ) from None


def utf8(text: str, what: str, error: type[errors.TetherError] = errors.UsageError) -> str:
    """`text` if it is valid UTF-8. Python hands undecodable bytes of argv and the
    environment over as lone surrogates, which no log line or request can carry."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the bytes as they were given
    except UnicodeEncodeError:
        raise error(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
    return decoded(raw, what, error)
