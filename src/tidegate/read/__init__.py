"""The reading room: any landing file into a work table of raw records in the compute engine.

Every record is kept with its 1-based ordinal in the file (``_row``); records that cannot
be read as rows are returned as :class:`BadRecord` with the reason, never dropped.

>>> import tempfile, pathlib
>>> from tidegate.compute import local
>>> from tidegate.config.models import ReadOptions
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "people.csv").write_text("id,name\\n1,Ada\\n2\\n3,Grace\\n")
>>> result = read_file(local(), folder / "people.csv", ReadOptions())
>>> result.rows, result.columns, [(b.row, b.reason) for b in result.bad]
(2, ['id', 'name'], [(2, 'expected 2 columns, found 1')])
"""

from __future__ import annotations

from tidegate.read.formats import detect_format
from tidegate.read.reader import peek_columns, read_file
from tidegate.read.result import ROW, BadRecord, ReadResult

__all__ = ["ROW", "BadRecord", "ReadResult", "detect_format", "peek_columns", "read_file"]
