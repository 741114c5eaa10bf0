"""The grid reader (a connector): a ledger file into raw grids of cells — .xlsx/.xlsm/.xls
via calamine, .csv with encoding detection. No interpretation happens here beyond filling
merged cells; :mod:`shangyun.ledgers` reads the grids.

Excel: python-calamine (Rust) reads the cells — several times faster than openpyxl — and
reports merged ranges; every cell of a merged range gets the range's top-left value (so a
单位 or 系统名称 merged down over many rows is filled down) and the ranges are kept on the
grid. Hidden sheets are listed without their rows (the reader warns that it skipped them).
What calamine does not report is found by one streamed pass over each sheet's XML
(:func:`sheet_xml`, .xlsx/.xlsm): formula cells saved without a cached value (calamine
reads them as blank), rows hidden in Excel, and whether the sheet has an AutoFilter.

CSV: UTF-8 (with or without BOM), UTF-16 with BOM, UTF-16 without one (Excel's "Unicode
text" as some tools save it: recognised by its NUL bytes, which no UTF-8 or GBK text has; a
file with NULs in no UTF-16 pattern is refused, never read as garbled text), otherwise
GB18030 (a superset of GBK, what Chinese Excel saves as "CSV"), decided in one pass over
the file in 1 MiB pieces; the delimiter is the one a first line ``sep=;`` names (Excel's
hint, which some tools write), else sniffed among ``, ; tab |``. The rows are
parsed as the reader asks for them (:class:`~shangyun.ledgers.grid.LazyRows`), never all
at once.
"""

from __future__ import annotations

import codecs
import csv
import html
import re
import zipfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from shangyun.errors import LedgerError
from shangyun.ledgers.grid import Grid, LazyRows

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")


def read_grids(path: Path) -> list[Grid]:
    """Every sheet of ``path`` as a :class:`~shangyun.ledgers.grid.Grid` (one for a CSV
    file); implements :class:`shangyun.ledgers.grid.GridReader`.

    A workbook is read by what its bytes are, not by its name: an .xlsx saved as ``.xls``
    (or the other way round) and a WPS ``.et`` file are read like the workbook they are; a
    web page or a text file named ``.xls``/``.xlsx`` is refused saying what it is.

    Raises :class:`LedgerError` naming the file when it cannot be opened or decoded.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise LedgerError(str(path), "no such file")
    if suffix in EXCEL_SUFFIXES or suffix in WPS_SUFFIXES:
        return _read_excel(path, _content(path))
    if suffix in CSV_SUFFIXES:
        return [_read_csv(path)]
    if suffix in ARCHIVE_SUFFIXES:
        raise LedgerError(str(path), "is an archive, not a ledger: unpack it and import the "
                                     "folder (`shangyun inventory import FOLDER`: every "
                                     "ledger under it)")
    raise LedgerError(str(path), f"unsupported file type {suffix!r}; use .xlsx or .csv "
                                 "(RVTools exports are .xlsx)")


#: Archives a bureau mails its ledgers in.
ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z", ".tar", ".gz", ".tgz")


#: WPS Office spreadsheets (read like the Excel file they are inside).
WPS_SUFFIXES = (".et", ".ett")
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
_SAVE_AS = "open it in Excel or WPS and save it as an Excel workbook (.xlsx)"


def _content(path: Path) -> str:
    """What a workbook file is by its first bytes: ``"zip"`` (.xlsx/.xlsm/.ods),
    ``"ole"`` (Excel 97 .xls, WPS .et, or an encrypted workbook); anything else is refused
    with a :class:`LedgerError` saying what it looks like."""
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"PK\x03\x04"):
        # an OpenDocument file stores its "mimetype" member first, uncompressed
        if head[30:38] == b"mimetype" and b"opendocument.spreadsheet" in head[38:120]:
            return "ods"
        return "zip"
    if head.startswith(_OLE):
        return "ole"
    if not head.strip():
        raise LedgerError(str(path), f"is empty (0 bytes of a workbook): {_SAVE_AS}")
    text = head.lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").lower().replace(b"\x00", b"")
    if text.startswith((b"<html", b"<!doctype", b"<table", b"<meta")) or b"<table" in text:
        raise LedgerError(str(path), "is a web page (HTML) saved with a spreadsheet name, "
                                     f"not a workbook (an 'export to Excel' of a web system): "
                                     f"{_SAVE_AS}")
    if text.startswith(b"<?xml"):
        raise LedgerError(str(path), "is an XML file (an 'XML Spreadsheet 2003'?), not a "
                                     f"workbook: {_SAVE_AS}")
    raise LedgerError(str(path), "is not a workbook (neither .xlsx nor Excel 97 .xls "
                                 "inside; a text file? if it is CSV, rename it .csv): "
                                 f"{_SAVE_AS}")


def _open_workbook(path: Path, content: str) -> CalamineWorkbook:
    """The calamine workbook of ``path``: by its name when the name says what the bytes are,
    else by its bytes (an .xlsx named .xls, a WPS .et)."""
    suffix = path.suffix.lower()
    by_name = (content == "zip" and suffix in (".xlsx", ".xlsm", ".xlsb", ".ods")) or \
        (content == "ods" and suffix == ".ods") or (content == "ole" and suffix == ".xls")
    try:
        if by_name:
            return CalamineWorkbook.from_path(str(path))
        with path.open("rb") as f:
            return CalamineWorkbook.from_filelike(f)
    except (CalamineError, ValueError, OSError) as exc:
        if content == "ole":
            with path.open("rb") as f:
                if _ENCRYPTED in f.read(1 << 20):
                    raise LedgerError(str(path), "is password-protected (encrypted): save a "
                                                 "copy without a password (File → Info → "
                                                 "Protect Workbook) and import that") from exc
        if content == "zip" and not _has_workbook_xml(path):
            raise LedgerError(str(path), _ZIP_NOT_WORKBOOK) from exc
        if suffix in WPS_SUFFIXES:
            raise LedgerError(str(path), f"is a WPS spreadsheet that cannot be read ({exc}): "
                                         f"{_SAVE_AS}") from exc
        raise LedgerError(str(path), f"cannot be read as a workbook: {exc}") from exc


_ZIP_NOT_WORKBOOK = ("is a zip archive, not a workbook (no xl/workbook.xml inside: a .zip, "
                     f".docx or other file renamed?): {_SAVE_AS}")


def _has_workbook_xml(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return "xl/workbook.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return True  # a damaged zip: calamine's own message says more


def _read_excel(path: Path, content: str) -> list[Grid]:
    """The grids of a workbook. An .xlsx/.xlsm is read by two threads at once: the sheet
    XML scan (:func:`sheet_xml`) runs on a helper thread, which then reads sheets too, from
    a workbook object of its own (calamine parses with the GIL released, and one workbook
    object cannot be used by two threads); the caller's thread reads sheets from the start.
    Other workbooks (.xls, .ods: calamine parses every sheet when it opens them) are read
    by the caller's thread alone."""
    wb = _open_workbook(path, content)
    try:
        sheets = [(m.name, str(m.visible).endswith(("Hidden", "VeryHidden")))
                  for m in wb.sheets_metadata if str(m.typ).endswith("WorkSheet")]
        todo = deque(name for name, hidden in sheets if not hidden)
        done: dict[str, Grid | LedgerError] = {}
        facts: dict[str, SheetXml] = {}
        if content == "zip" and path.suffix.lower() != ".ods":
            with ThreadPoolExecutor(max_workers=1) as pool:
                helper = pool.submit(_helper, path, content, todo, done, facts)
                try:
                    _read_sheets(wb, path, todo, done)
                finally:
                    todo.clear()  # on an error, the helper stops after its sheet
                helper.result()
        else:
            _read_sheets(wb, path, todo, done)
    finally:
        wb.close()
    grids = []
    for name, hidden in sheets:
        got = Grid(str(path), name, [], hidden=True) if hidden else done[name]
        if isinstance(got, LedgerError):
            raise got  # the first sheet (in the workbook's order) that cannot be read
        f = facts.get(name)
        if f is not None:
            got.formula_blanks, got.hidden_rows, got.filtered = (f.formula_blanks,
                                                                 f.hidden_rows, f.filtered)
        grids.append(got)
    return grids


def _helper(path: Path, content: str, todo: deque[str], done: dict[str, Grid | LedgerError],
            facts: dict[str, SheetXml]) -> None:
    """The helper thread of :func:`_read_excel`: the sheet XML scan, then the sheets still
    waiting in ``todo`` (from its own workbook object, opened only if any are left)."""
    facts.update(sheet_xml(path))
    if not todo:
        return
    try:
        wb = _open_workbook(path, content)
    except LedgerError:
        return  # the caller's thread reads the rest
    try:
        _read_sheets(wb, path, todo, done)
    finally:
        wb.close()


def _read_sheets(wb: CalamineWorkbook, path: Path, todo: deque[str],
                 done: dict[str, Grid | LedgerError]) -> None:
    """Read the sheets named in ``todo`` (taken one at a time, so two threads share the
    work) into ``done``: a :class:`Grid` with its merged cells filled, or the
    :class:`LedgerError` saying why the sheet cannot be read."""
    while True:
        try:
            name = todo.popleft()
        except IndexError:
            return
        try:
            sheet = wb.get_sheet_by_name(name)
            rows = sheet.to_python(skip_empty_area=False)
            merged = sheet.merged_cell_ranges or []
        except (CalamineError, ValueError) as exc:
            err = LedgerError(str(path), f"cannot be read: {exc}", sheet=name)
            err.__cause__ = exc
            done[name] = err
            continue
        _fill_merged(rows, merged)
        done[name] = Grid(str(path), name, rows,
                          merged=[(tuple(a), tuple(b)) for a, b in merged])


_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
_FORMULA_NO_VALUE = re.compile(
    rb'<c\b[^>]*?\br="([A-Z]+\d+)"[^>]*>\s*<f\b[^>]*(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>')


@dataclass
class SheetXml:
    """What only a sheet's XML tells (calamine does not): formula cells saved without a
    value, rows hidden in Excel (0-based), and whether the sheet has an AutoFilter."""

    formula_blanks: list[tuple[int, int]] = field(default_factory=list)
    hidden_rows: list[int] = field(default_factory=list)
    filtered: bool = False


_XML_CHUNK = 4 << 20
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_HIDDEN_ROW = re.compile(rb'<row\b[^>]*?\bhidden="(?:1|true)"[^>]*>')


def sheet_xml(path: Path) -> dict[str, SheetXml]:
    """Per sheet name, what its XML says beyond the cells (:class:`SheetXml`); sheets with
    nothing to say are left out.

    Each sheet part is streamed in 4 MiB pieces (memory stays small whatever the size),
    and the pieces are searched with ``bytes.find`` for ``<f`` and ``hidden=``: a
    regular expression runs only where one of them occurs. A zip without
    ``xl/workbook.xml`` (any zip renamed .xlsx) raises :class:`LedgerError` naming the
    file."""
    out: dict[str, SheetXml] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for name, part in _sheet_parts(z).items():
                try:
                    stream = z.open(part)
                except KeyError:
                    continue
                facts = SheetXml()
                with stream:
                    carry = b""
                    while True:
                        piece = stream.read(_XML_CHUNK)
                        data = carry + piece
                        if not piece:
                            _scan(data, len(data), facts)
                            break
                        cut = data.rfind(b"<row")  # scan whole rows only; the rest waits
                        if cut <= 0:
                            carry = data
                            continue
                        _scan(data, cut, facts)  # (data[:cut], without copying it)
                        carry = data[cut:]
                if facts.formula_blanks or facts.hidden_rows or facts.filtered:
                    out[name] = facts
    except KeyError as exc:  # no xl/workbook.xml or its rels: an .ods or a zip renamed
        raise LedgerError(str(path), _ZIP_NOT_WORKBOOK) from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return out
    return out


#: Whether a piece of sheet XML holds a formula, a ``hidden=`` attribute: the regular
#: expressions only decide whether the closer ones run (``re`` finds a literal faster than
#: ``bytes.find`` over sheet XML, where ``<`` is every few bytes).
_ANY_FORMULA = re.compile(rb"<f")
_ANY_HIDDEN = re.compile(rb"hidden=")
_AUTOFILTER = re.compile(rb"<autoFilter")


def _scan(data: bytes, end: int, facts: SheetXml) -> None:
    """Add what ``data[:end]`` (whole rows of a sheet's XML, or its head or tail) says to
    ``facts``. An ``<autoFilter>`` comes after ``<sheetData>`` (the schema's order), so
    it is looked for only after the last ``</row>`` before ``end``."""
    if _ANY_FORMULA.search(data, 0, end):
        for m in _FORMULA_NO_VALUE.finditer(data, 0, end):
            ref = _CELL_REF.fullmatch(m.group(1).decode())
            if ref:
                col = 0
                for ch in ref.group(1):
                    col = col * 26 + ord(ch) - 64
                facts.formula_blanks.append((int(ref.group(2)) - 1, col - 1))
    if _ANY_HIDDEN.search(data, 0, end):
        for m in _HIDDEN_ROW.finditer(data, 0, end):
            num = _ROW_NUMBER.search(m.group(0))
            if num:
                facts.hidden_rows.append(int(num.group(1)) - 1)
    if not facts.filtered and _AUTOFILTER.search(data, max(data.rfind(b"</row>", 0, end), 0),
                                                  end):
        facts.filtered = True


def formula_blanks(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Per sheet name, the 0-based ``(row, col)`` of formula cells saved with no cached value
    (a workbook written by a program that does not calculate: Excel would show a result,
    every reader sees a blank)."""
    return {name: f.formula_blanks for name, f in sheet_xml(path).items()
            if f.formula_blanks}


def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> the zip member holding its cells (from workbook.xml and its rels)."""
    wb = z.read("xl/workbook.xml").decode("utf-8", "replace")
    rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    targets = {m.group(1): m.group(2) for m in re.finditer(
        r'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
    targets |= {m.group(2): m.group(1) for m in re.finditer(
        r'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)}
    out = {}
    for m in re.finditer(r'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]+)"', wb):
        target = targets.get(m.group(2))
        if target:
            target = target.lstrip("/")
            out[html.unescape(m.group(1))] = (target if target.startswith("xl/")
                                              else "xl/" + target)
    return out


def _fill_merged(rows: list[list[Any]], merged: list[tuple[tuple[int, int], ...]]) -> None:
    """Give every cell of each merged range the value of its top-left cell."""
    for (r0, c0), (r1, c1) in merged:
        if r0 >= len(rows):
            continue
        top = rows[r0][c0] if c0 < len(rows[r0]) else ""
        for r in range(r0, min(r1, len(rows) - 1) + 1):
            row = rows[r]
            for c in range(c0, min(c1, len(row) - 1) + 1):
                if row[c] == "" or row[c] is None:
                    row[c] = top


def decode(data: bytes, file: str) -> tuple[str, str]:
    """``(text, encoding)`` of a CSV file's bytes: UTF-8(-BOM), UTF-16 BOM, UTF-16 without
    a BOM (recognised by its NUL bytes), else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    wide = utf16_without_bom(data[:_NUL_SCAN], file)
    if wide is not None:
        try:
            return data.decode(wide), wide
        except UnicodeDecodeError as exc:
            raise LedgerError(file, _not_utf16(wide),
                              row=_line16(data, exc.start, wide)) from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LedgerError(file, "is neither UTF-8 nor GBK/GB18030 text", row=line) from exc


#: How much of a CSV file's head is looked at for the NUL bytes of UTF-16 without a BOM.
_NUL_SCAN = 64 * 1024


def utf16_without_bom(head: bytes, file: str) -> str | None:
    """``"utf-16-le"`` / ``"utf-16-be"`` when ``head`` (a CSV file's first bytes, no BOM)
    is UTF-16 text — Excel's "Unicode text" saved without its byte-order mark: its line
    breaks, delimiters, digits and Latin letters each hold a NUL byte, at odd offsets
    (little-endian) or even ones (big-endian) — else ``None`` (no NUL byte at all).

    Text in UTF-8 or GB18030 never holds a NUL byte, so NULs in no UTF-16 pattern are a
    :class:`LedgerError` naming ``file`` (not a text file), never read as garbled text."""
    if b"\x00" not in head:
        return None
    odd = head[1::2].count(0)
    even = head[0::2].count(0)
    if odd >= 9 * even and odd * 8 >= len(head) // 2:
        return "utf-16-le"
    if even >= 9 * odd and even * 8 >= len(head) // 2:
        return "utf-16-be"
    raise LedgerError(file, "holds NUL bytes but is not UTF-16 text: it is not a CSV text "
                            "file (save it from Excel as \"CSV UTF-8\" or as .xlsx)")


def _not_utf16(encoding: str) -> str:
    return (f"looks like {encoding.upper()} text without a byte-order mark (Excel's \"Unicode "
            "text\") but does not decode as it; save it from Excel as \"CSV UTF-8\" or as "
            ".xlsx")


def _line16(data: bytes, at: int, encoding: str) -> int:
    """The line of byte offset ``at`` of UTF-16 ``data``."""
    return data[:at - at % 2].decode(encoding, errors="replace").count("\n") + 1


def detect_encoding(path: Path) -> str:
    """The encoding of a CSV file, as :func:`decode` would choose it, read in 1 MiB pieces
    (memory stays small however large the file): UTF-8(-BOM), UTF-16 BOM, UTF-16 without a
    BOM (:func:`utf16_without_bom`), else GB18030.
    Raises :class:`LedgerError` naming the line of the first byte none can decode."""
    with path.open("rb") as f:
        head = f.read(_NUL_SCAN)
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    else:
        wide = utf16_without_bom(head, str(path))
        if wide is not None:
            line = _decodes(path, wide)
            if line is not None:
                raise LedgerError(str(path), _not_utf16(wide), row=line)
            return wide
        encoding = "utf-8"
    if _decodes(path, encoding) is None:
        return encoding
    line = _decodes(path, "gb18030")
    if line is None:
        return "gb18030"
    raise LedgerError(str(path), "is neither UTF-8 nor GBK/GB18030 text", row=line)


def _decodes(path: Path, encoding: str) -> int | None:
    """``None`` when the whole file decodes as ``encoding``, else the line of the first
    byte that does not."""
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    wide = encoding.startswith("utf-16")
    lines = 0
    with path.open("rb") as f:
        while True:
            piece = f.read(1 << 20)
            try:
                text = dec.decode(piece, final=not piece)
            except UnicodeDecodeError as exc:
                if wide:
                    return lines + _line16(piece, max(exc.start, 0), encoding)
                return lines + piece[:max(exc.start, 0)].count(b"\n") + 1
            if not piece:
                return None
            lines += text.count("\n") if wide else piece.count(b"\n")


def _read_csv(path: Path) -> Grid:
    """A CSV file as a grid whose rows are read as the reader asks for them
    (:class:`~shangyun.ledgers.grid.LazyRows`): a reader that stops early — a file of junk
    stops at the problems cap — never reads the rest, and one going through the file
    keeps only the stretch it is working on."""
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as f:
        sample = f.read(8192)
    hint = _SEP_LINE.match(sample)
    dialect: Any
    if hint:  # Excel's "sep=;" first line: the delimiter, said (the line reads as blank)
        dialect = type("SepHint", (csv.excel,), {"delimiter": hint.group(1)})
    else:
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    return Grid(str(path), None, LazyRows(_csv_rows(path, encoding, dialect, bool(hint))),
                encoding=encoding)


#: The first line Excel reads as the delimiter to use (``sep=;``), some tools write it
_SEP_LINE = re.compile(r"\ufeff?sep=([^\r\n])\r?\n")


def _csv_rows(path: Path, encoding: str, dialect: Any,
              sep_line: bool = False) -> Iterator[list[Any]]:
    with path.open(encoding=encoding, newline="") as f:
        if sep_line:
            f.readline()
            yield []  # (a blank row: the rows keep the file's line numbers)
        reader = csv.reader(f, dialect)
        try:
            yield from reader
        except csv.Error as exc:
            raise LedgerError(str(path), f"is not valid CSV: {exc}",
                              row=reader.line_num + sep_line) from exc
        except UnicodeDecodeError as exc:
            raise LedgerError(str(path), f"is not {encoding} text: {exc}",
                              row=reader.line_num + 1 + sep_line) from exc


__all__ = ["CSV_SUFFIXES", "EXCEL_SUFFIXES", "WPS_SUFFIXES", "SheetXml", "decode",
           "detect_encoding", "formula_blanks", "read_grids", "sheet_xml", "utf16_without_bom"]
