"""How a text export is written: delimiter, decimal mark, thousands separator and encoding.

Spreadsheets save CSV in the conventions of the computer's locale. A German, French, Spanish or
Brazilian Excel writes ``;``-separated files with decimal commas (``12,5``) and, on Windows, in the
"ANSI" code page cp1252 rather than UTF-8. :func:`detect_format` works these out from the first
megabyte of the file (which it only reads), and :func:`fix_thousands` turns columns written with
thousands separators (``1.234,5``) into numbers after pandas has read the file.

Detection refuses to guess when the evidence conflicts: a :class:`FormatError` then names what is
ambiguous and the ``io:`` option in ``cx.yaml`` that settles it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["FormatError", "TextFormat", "detect_format", "fix_thousands", "FALLBACK_ENCODING"]

#: Encoding tried when the file is not UTF-8. cp1252 ("Windows Western", what Excel calls ANSI
#: on Western European and Latin-American Windows) rather than a statistical detector such as
#: charset-normalizer: it is what these exports are in practice, it agrees with latin-1 on every
#: letter (and adds €, curly quotes and dashes where latin-1 has unused control codes), and it is
#: deterministic, whereas a detector guessing from a short sample can pick cp1250 or mac-roman
#: for "São Paulo" and corrupt names silently. Text it cannot represent (five undefined bytes)
#: or that decodes to implausible letters (Cyrillic, Greek, Asian code pages) is refused with a
#: hint to set ``io.encoding``.
FALLBACK_ENCODING = "cp1252"
SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 2000
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

_BOMS = [(codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]
_COMMA_DEC = re.compile(r"^[-+]?\d+,\d+$")  # 12,5 (or 1,234: see _COMMA_GROUPED)
_POINT_DEC = re.compile(r"^[-+]?\d*\.\d+$")  # 12.5 (or 1.234: see _POINT_GROUPED)
_COMMA_GROUPED = re.compile(r"^[-+]?[1-9]\d{0,2}(,\d{3})+$")  # 1,234 : thousands or decimal?
_POINT_GROUPED = re.compile(r"^[-+]?[1-9]\d{0,2}(\.\d{3})+$")  # 1.234 : thousands or decimal?
_DOT_THEN_COMMA = re.compile(r"^[-+]?\d{1,3}(\.\d{3})+,\d+$")  # 1.234,5: surely decimal comma
_COMMA_THEN_DOT = re.compile(r"^[-+]?\d{1,3}(,\d{3})+\.\d+$")  # 1,234.5: surely decimal point
_NUMBER = {
    ",": re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"),
    ".": re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"),
}


class FormatError(ValueError):
    """The file's delimiter, decimal mark or encoding cannot be told apart: set ``io:``."""


@dataclass(frozen=True)
class TextFormat:
    """How a text export is written, and which parts were detected rather than configured."""

    delimiter: str
    decimal: str
    encoding: str
    detected: tuple[str, ...] = ()

    def note(self, name: str | None = None) -> str:
        """One line for the cleaning report, e.g. 'Read as semicolon-separated, decimal comma,
        encoding cp1252 (detected).'"""
        what = (f"{DELIMITERS.get(self.delimiter, repr(self.delimiter))}-separated, "
                f"decimal {'comma' if self.decimal == ',' else 'point'}, encoding {self.encoding}")
        if self.detected == ("delimiter", "decimal", "encoding"):
            how = "detected"
        elif self.detected:
            how = f"{' and '.join(self.detected)} detected, the rest from 'io' in cx.yaml"
        else:
            how = "from 'io' in cx.yaml"
        return f"Read {name + ' ' if name else ''}as {what} ({how})."

    @property
    def is_plain(self) -> bool:
        """Comma-separated, decimal point, UTF-8: the case that needs no note."""
        return (self.delimiter, self.decimal, self.encoding) == (",", ".", "utf-8")


def detect_format(path: Path, *, delimiter: str | None = None, decimal: str | None = None,
                  encoding: str | None = None) -> TextFormat:
    """Work out how a text export is written; given options are used as they are.

    Parameters
    ----------
    path : Path
        The file (only its first megabyte is read, in binary).
    delimiter, decimal, encoding : str, optional
        Settled values (from ``io`` in cx.yaml); the others are detected.

    Returns
    -------
    TextFormat

    Raises
    ------
    FormatError
        The file is not text in a known encoding, no delimiter splits its header consistently,
        two delimiters do, or numbers are written with both decimal marks.

    Notes
    -----
    - Encoding: a byte-order mark (UTF-8, UTF-16) wins; else UTF-8 if the sample decodes as
      UTF-8; else :data:`FALLBACK_ENCODING` (see there why), unless the decoded text looks like
      another script, which is refused.
    - Delimiter: among ``,``, ``;``, tab and ``|``, the one that splits the header into two or
      more fields and every sampled row (up to 2,000, quotes respected) into as many.
    - Decimal mark, only when the delimiter is not ``,``: a comma when numeric-looking cells read
      ``12,5`` or ``1.234,5``, a point when they read ``12.5`` or ``1,234.5``; cells like ``1,234``
      alone cannot tell a decimal comma from a thousands separator and are refused.
    """
    given = {"delimiter": delimiter, "decimal": decimal, "encoding": encoding}
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
        final = not fh.read(1)
    if encoding is None:
        encoding = _detect_encoding(head, final, path)
    text = _decode(head, encoding, final, path)
    if delimiter is None:
        delimiter = _detect_delimiter(text, final, path)
    if decimal is None:
        decimal = "." if delimiter == "," else _detect_decimal(text, delimiter, final, path)
    return TextFormat(delimiter, decimal, encoding, tuple(k for k, v in given.items() if v is None))


def _detect_encoding(head: bytes, final: bool, path: Path) -> str:
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=final)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = codecs.getincrementaldecoder(FALLBACK_ENCODING)().decode(head, final=final)
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{path.name!r} is neither UTF-8 nor Windows Western (cp1252): byte {head[exc.start]:#x} "
            f"at position {exc.start:,} fits neither. Save it as UTF-8, or set its encoding in "
            "cx.yaml, e.g.\n  io:\n    encoding: cp1251   # or utf-16, cp1250, shift_jis ..."
        ) from None
    if _looks_like_another_script(text):
        raise FormatError(
            f"{path.name!r} is not UTF-8, and read as Windows Western (cp1252) its text looks "
            "garbled (words made mostly of accented letters), so it is probably in another code "
            "page. Save it as UTF-8, or set its encoding in cx.yaml, e.g.\n  io:\n    encoding: "
            "cp1251   # Cyrillic; cp1250 Central European, cp1253 Greek, shift_jis Japanese"
        )
    return FALLBACK_ENCODING


def _looks_like_another_script(text: str) -> bool:
    """Western words have a few accented letters ('São', 'Señor', 'ação'); text in another code
    page decoded as cp1252 gives words made mostly of them ('Ïðèâåò')."""
    words = [w for w in re.findall(r"[^\W\d_]{4,}", text) if not w.isascii()]
    if len(words) < 3:
        return False
    odd = sum(sum(not c.isascii() for c in w) * 2 > len(w) for w in words)
    return odd >= 3 and odd > 0.3 * len(words)


def _decode(head: bytes, encoding: str, final: bool, path: Path) -> str:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(head, final=final)
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{path.name!r} cannot be read as {encoding} ('io.encoding'): byte "
            f"{head[exc.start]:#x} at position {exc.start:,} is not valid in it. Remove "
            "'io.encoding' from cx.yaml to have the encoding detected, or set the right one."
        ) from None


def _records(text: str, delimiter: str, final: bool) -> list[list[str]]:
    rows = []
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        if row:
            rows.append(row)
        if len(rows) > SAMPLE_ROWS:
            break
    if not final and len(rows) <= SAMPLE_ROWS and len(rows) > 1:
        rows.pop()  # probably cut in the middle by the sample
    return rows[: SAMPLE_ROWS + 1]


def _detect_delimiter(text: str, final: bool, path: Path) -> str:
    fits, partial = [], []
    for delim in DELIMITERS:
        rows = _records(text, delim, final)
        if not rows or len(rows[0]) < 2:
            continue
        share = sum(len(r) == len(rows[0]) for r in rows) / len(rows)
        (fits if share == 1 else partial).append((share, len(rows[0]), delim))
    if len(fits) == 1:
        return fits[0][2]
    names = " or ".join(f"{DELIMITERS[d]} ({d!r})" for _, _, d in (fits or partial))
    first = text.splitlines()[0][:120] if text.strip() else ""
    if len(fits) > 1:
        raise FormatError(
            f"{path.name!r}: both {names} split every row into the same number of fields, so the "
            f"delimiter is ambiguous (header: {first!r}). Set it in cx.yaml, e.g.\n  io:\n"
            f"    delimiter: \"{fits[0][2]}\""
        )
    if partial:  # ragged rows: let pandas name the offending line with the likeliest delimiter
        return max(partial)[2]
    raise FormatError(
        f"{path.name!r}: no comma, semicolon, tab or pipe splits the header into columns "
        f"(header: {first!r}). An export needs at least a customer id and a score column. If it "
        "uses another delimiter, set it in cx.yaml, e.g.\n  io:\n    delimiter: \":\""
    )


def _detect_decimal(text: str, delimiter: str, final: bool, path: Path) -> str:
    rows = _records(text, delimiter, final)[1:]
    comma, point, unsure = [], [], []
    for row in rows:
        for cell in row:
            cell = cell.strip()
            if _DOT_THEN_COMMA.match(cell):
                comma.append(cell)
            elif _COMMA_THEN_DOT.match(cell):
                point.append(cell)
            elif _COMMA_GROUPED.match(cell) or _POINT_GROUPED.match(cell):
                unsure.append(cell)
            elif _COMMA_DEC.match(cell):
                comma.append(cell)
            elif _POINT_DEC.match(cell):
                point.append(cell)
    if comma and point:
        raise FormatError(
            f"{path.name!r} writes numbers with both decimal marks (e.g. {comma[0]!r} and "
            f"{point[0]!r}), so the decimal mark is ambiguous. Set it in cx.yaml, e.g.\n  io:\n"
            f"    decimal: \",\"   # or \".\""
        )
    if comma:
        return ","
    if point:
        return "."
    if any("," in u for u in unsure):
        example = next(u for u in unsure if "," in u)
        raise FormatError(
            f"{path.name!r}: numbers such as {example!r} could be a decimal comma ({example.replace(',', '.')}) "
            f"or a thousands separator ({example.replace(',', '')}), and no other number tells. Set "
            "it in cx.yaml, e.g.\n  io:\n    decimal: \",\"   # or \".\" when ',' separates thousands"
        )
    return "."


def fix_thousands(frame: pd.DataFrame, decimal: str, *, keep: set[str] | frozenset[str] = frozenset()
                  ) -> list[str]:
    """Convert text columns written as numbers with thousands separators, in place.

    With a decimal comma, a column whose every cell reads like ``1.234,5``, ``12,5`` or ``7``
    becomes float; with a decimal point, like ``1,234.5``. In a column where most cells read so
    and a few do not ('n/a'), the numbers are rewritten as ``1234.5`` and the odd cells left as
    they are, for validation to report. The columns in ``keep`` (ids, labels) are never touched.
    Returns the names of the converted columns.
    """
    pattern = _NUMBER[decimal]
    sep = "." if decimal == "," else ","
    marks = sep + ("," if decimal == "," else "")
    done = []
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) or str(col).startswith("_") or col in keep:
            continue
        head = s.head(5000).dropna().astype(str).str.strip()
        if not (head.str.match(pattern) & head.str.contains(f"[{re.escape(marks)}]")).any():
            continue  # cheap look first: most text columns (comments, labels) stop here
        text = s.astype("string").str.strip()
        present = text.notna() & (text != "")
        match = present & text.str.match(pattern).fillna(False).astype(bool)
        if not match.any() or not text[match].str.contains(f"[{re.escape(marks)}]").any():
            continue
        clean = text.where(~match, text.str.replace(sep, "", regex=False))
        if decimal == ",":
            clean = clean.where(~match, clean.str.replace(",", ".", regex=False))
        if bool(match[present].all()):
            frame[col] = pd.to_numeric(clean.where(present), errors="coerce").astype(float)
        elif match.sum() >= 0.5 * present.sum():  # mostly numbers: leave the odd cells to validation
            frame[col] = clean.astype(object).where(text.notna(), s)
        else:
            continue
        done.append(str(col))
    return done
