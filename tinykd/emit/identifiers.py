"""Turning user-supplied text into valid C/C++ identifiers and string literals.

Names (`--name`, file stems) become identifiers; labels become string literals. Both must survive any
input: quotes, backslashes, leading digits, C++ keywords, non-ASCII letters, control characters.
"""

from __future__ import annotations

import re
import unicodedata

from tinykd.errors import TinykdError

# C11 and C++17 keywords plus a few macro names that Arduino cores define; an identifier equal to one of
# these gets a trailing underscore.
_RESERVED = frozenset(
    """
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t class compl
    const const_cast constexpr continue decltype default delete do double dynamic_cast else enum explicit export
    extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq nullptr
    operator or or_eq private protected public register reinterpret_cast restrict return short signed sizeof
    static static_assert static_cast struct switch template this thread_local throw true try typedef typeid
    typename union unsigned using virtual void volatile wchar_t while xor xor_eq _Bool _Complex _Imaginary
    main NULL HIGH LOW INPUT OUTPUT DEC HEX BIN
    """.split()
)


def c_identifier(text: str, *, what: str = "name") -> str:
    """A valid, non-reserved C/C++ identifier derived from `text`.

    Accents are folded to ASCII (`naïve` -> `naive`), other characters become `_`, runs of `_` collapse
    (a double underscore is reserved to the implementation), leading/trailing `_` go, a leading digit gets
    an `m` prefix (`1st` -> `m1st`), and keywords get a trailing `_`.
    """
    if not isinstance(text, str):
        raise TinykdError(f"{what} must be text, got {type(text).__name__}")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ident = re.sub(r"[^A-Za-z0-9_]", "_", folded)
    ident = re.sub(r"_+", "_", ident).strip("_")
    if not ident:
        raise TinykdError(f"{what} {text!r} has no letters or digits to make a C identifier from; choose another")
    if ident[0].isdigit():
        ident = "m" + ident
    if ident in _RESERVED:
        ident += "_"
    return ident


def c_string_literal(text: str) -> str:
    """`text` as a C string literal (with quotes) holding its exact UTF-8 bytes.

    Printable ASCII stays readable; `"` and `\\` are escaped, `?` too (trigraphs); every other byte is a
    3-digit octal escape, which, unlike `\\x`, cannot swallow a following hex-looking character.
    """
    out = ['"']
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


_ESCAPE = re.compile(r"\\([0-7]{1,3}|x[0-9A-Fa-f]+|.)", re.S)
_SIMPLE = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11}


def parse_c_string_literal(literal: str) -> str:
    """Inverse of `c_string_literal` (for the round-trip tests and for reading emitted sources back)."""
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise TinykdError(f"not a C string literal: {literal[:40]!r}")
    body = literal[1:-1]
    data = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        data += body[pos : m.start()].encode("utf-8")
        esc = m.group(1)
        if esc[0] in "01234567":
            data.append(int(esc, 8))
        elif esc[0] == "x":
            data.append(int(esc[1:], 16))
        elif esc in _SIMPLE:
            data.append(_SIMPLE[esc])
        else:
            data += esc.encode("utf-8")
        pos = m.end()
    data += body[pos:].encode("utf-8")
    return data.decode("utf-8")
