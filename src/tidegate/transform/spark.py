"""Rendering the compute dialect's trees (DuckDB) as Spark SQL, with DuckDB's meaning.

sqlglot transpiles most of DuckDB to Spark. What it leaves behind are functions Spark does
not have (``try_strptime``, ``json_valid``, ``list_sum``), functions whose meaning differs
(1-based list indexes, ``len`` of a list, ``regexp_replace`` without ``'g'``, a struct from
``regexp_extract``), and DuckDB's two ``unnest`` in one SELECT, which Spark refuses. Each is
a rewrite of the tree, keyed by node type in :data:`REWRITES`, applied before rendering. An
expression no rewrite can carry raises :class:`~tidegate.errors.TranspileError`, so
``tidegate check`` reports it before any data moves.

>>> from tidegate.sql import parse
>>> to_spark(parse("try_strptime(x, '%d/%m/%Y')"))
"TRY_TO_TIMESTAMP(x, 'd/M/yyyy')"
>>> to_spark(parse("len(items) + len(name)"), arrays={"items"})
'SIZE(items) + LENGTH(name)'
>>> to_spark(parse("items[1]"))
'TRY_ELEMENT_AT(items, 1)'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from tidegate.errors import TranspileError
from tidegate.sql import COMPUTE_DIALECT

DIALECT = "spark"

# DuckDB strftime directives and the Java DateTimeFormatter letters that parse the same text.
# Java's single letters accept one or two digits as DuckDB does ("5/1/2024" with %d/%m/%Y).
_DIRECTIVES = {
    "%Y": "yyyy",
    "%m": "M",
    "%d": "d",
    "%-m": "M",
    "%-d": "d",
    "%H": "H",
    "%-H": "H",
    "%I": "h",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
    "%p": "a",
    "%b": "MMM",
    "%B": "MMMM",
    "%a": "EEE",
    "%A": "EEEE",
    "%j": "D",
    "%z": "XX",
    "%Z": "z",
    "%%": "%",
}
_FIXED = {"%m": "MM", "%d": "dd", "%H": "HH", "%I": "hh"}


def java_format(fmt: str) -> str:
    """A DuckDB ``strptime`` format as a Spark datetime pattern; text between directives is
    quoted. ``%y`` is left to :func:`_two_digit_year`.

    >>> java_format("%Y-%m-%dT%H:%M:%S")
    "yyyy-M-d'T'H:mm:ss"
    """
    tokens = re.findall(r"%-?.|[^%]+", fmt)
    out: list[str] = []
    for index, token in enumerate(tokens):
        glued = index + 1 < len(tokens) and tokens[index + 1].startswith("%")
        if token == "%y":
            out.append("yy")
        elif glued and token in _FIXED:  # digits against digits: only a fixed width parses
            out.append(_FIXED[token])
        elif token in _DIRECTIVES:
            out.append(_DIRECTIVES[token])
        elif token.startswith("%"):
            raise TranspileError(f"the format directive {token} of {fmt!r} has no Spark form")
        elif re.fullmatch(r"[^A-Za-z']+", token):
            out.append(token)
        else:
            out.append("'" + token.replace("'", "''") + "'")
    return "".join(out)


def _string(node: exp.Expr | None, what: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.name
    raise TranspileError(f"{what} must be a text literal to run on Spark")


def _two_digit_year(parsed: exp.Expr) -> exp.Expr:
    """Java reads ``yy`` as 2000-2099; DuckDB as 1969-2068, as POSIX does."""
    late = exp.GTE(this=exp.Year(this=parsed.copy()), expression=exp.Literal.number(2069))
    earlier = exp.Sub(
        this=parsed.copy(),
        expression=exp.Interval(this=exp.Literal.string("100"), unit=exp.var("YEAR")),
    )
    return exp.Case(ifs=[exp.If(this=late, true=earlier)], default=parsed)


def _strptime(value: exp.Expr, fmt: exp.Expr | None, safe: bool) -> exp.Expr:
    text = _string(fmt, "a strptime format")
    name = "TRY_TO_TIMESTAMP" if safe else "TO_TIMESTAMP"
    parsed: exp.Expr = exp.Anonymous(
        this=name, expressions=[value, exp.Literal.string(java_format(text))]
    )
    return _two_digit_year(parsed) if "%y" in text else parsed


def _anonymous(node: exp.Anonymous) -> exp.Expr:
    """A function sqlglot did not recognise when the tree was built (``exp.func`` without a
    dialect): one of ours, or DuckDB's name for a function sqlglot knows."""
    name = node.name.lower()
    args = node.expressions
    rewrite = _FUNCTIONS.get(name)
    if rewrite is not None:
        return rewrite(args)
    known = exp.func(name, *args, dialect=COMPUTE_DIALECT)
    return node if isinstance(known, exp.Anonymous) else known


def _json_valid(args: list[exp.Expr]) -> exp.Expr:
    parsed = exp.Anonymous(this="TRY_PARSE_JSON", expressions=args)
    return exp.not_(parsed.is_(exp.null()))


def _to_json(args: list[exp.Expr]) -> exp.Expr:
    """A value's JSON. Spark's ``to_json`` takes a struct, array, map or VARIANT: a value
    typed as text (the row hash quotes each column's text so) goes as a VARIANT, whose
    JSON is DuckDB's, escapes included."""
    value = args[0]
    text = isinstance(value, exp.Cast) and value.to.is_type(*exp.DataType.TEXT_TYPES)
    return exp.Anonymous(
        this="TO_JSON", expressions=[exp.cast(value, "variant") if text else value]
    )


def _interval(unit: str) -> Callable[[list[exp.Expr]], exp.Expr]:
    """DuckDB's ``to_months(n)`` (and years, days): Spark's interval of n units."""

    def make(args: list[exp.Expr]) -> exp.Expr:
        zero = exp.Literal.number(0)
        if unit == "days":
            return exp.Anonymous(this="MAKE_DT_INTERVAL", expressions=[args[0]])
        parts = [args[0], zero] if unit == "years" else [zero, args[0]]
        return exp.Anonymous(this="MAKE_YM_INTERVAL", expressions=parts)

    return make


def _list_sum(args: list[exp.Expr]) -> exp.Expr:
    """DuckDB's ``list_sum`` skips NULLs and is NULL for an empty list. Spark's ``aggregate``
    needs one accumulator type whatever the elements are: DOUBLE, cast by the target."""
    x, acc = exp.to_identifier("_tg_x"), exp.to_identifier("_tg_acc")
    start = exp.cast(exp.null(), "double")
    step = exp.Lambda(
        this=exp.cast(
            exp.Add(
                this=exp.Coalesce(this=exp.column(acc), expressions=[exp.Literal.number(0)]),
                expression=exp.column(x),
            ),
            "double",
        ),
        expressions=[acc, x],
    )
    return exp.Anonymous(this="AGGREGATE", expressions=[args[0], start, step])


def _regexp_full_match(node: exp.RegexpFullMatch) -> exp.Expr:
    pattern = _string(node.expression, "a regexp_full_match pattern")
    return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{pattern})$"))


def _list_extract(args: list[exp.Expr]) -> exp.Expr:
    """``list_extract(list, i)``: 1-based, NULL past the end, as ``try_element_at``."""
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=args)


_FUNCTIONS: dict[str, Callable[[list[exp.Expr]], exp.Expr]] = {
    "try_strptime": lambda args: _strptime(args[0], args[1] if len(args) > 1 else None, True),
    "json_valid": _json_valid,
    "list_sum": _list_sum,
    "list_extract": _list_extract,
    "to_json": _to_json,
    "to_months": _interval("months"),
    "to_years": _interval("years"),
    "to_days": _interval("days"),
}


# --------------------------------------------------------------------------- JSON by pointer
#
# The JSON reading room asks DuckDB for many values of a document at once, by JSON Pointer
# (``json_extract_string(doc, ['/a', '/b'])``, ``json_type(doc, [...])``). Spark reads them
# from the document parsed once as a VARIANT (``try_parse_json``), one ``variant_get`` per
# pointer: a list of pointers gives a list of values, as in DuckDB.

# Spark's ``schema_of_variant`` names and DuckDB's ``json_type`` for the same value; numbers
# are told apart by what DuckDB's parser makes of them (an integer of 20 digits or fewer is
# UBIGINT when it does not fit a BIGINT, any other number a DOUBLE).
_JSON_KINDS: tuple[tuple[str, str], ...] = (
    ("^OBJECT", "OBJECT"),
    ("^ARRAY", "ARRAY"),
    ("^STRING$", "VARCHAR"),
    ("^VOID$", "NULL"),
    ("^BOOLEAN$", "BOOLEAN"),
    ("^(TINYINT|SMALLINT|INT|BIGINT)$", "BIGINT"),
    (r"^DECIMAL\((1?[0-9]|20),0\)$", "UBIGINT"),
)


def pointer_path(pointer: str) -> str:
    """A JSON Pointer (RFC 6901) as a Spark variant path; a key holding both quotes or a
    backslash has none.

    >>> pointer_path("/a~1b/c")
    "$['a/b']['c']"
    """
    if not pointer.startswith("/"):
        raise TranspileError(f"the JSON pointer {pointer!r} must start with '/' on Spark")
    path = "$"
    for part in pointer[1:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if "\\" in key or ("'" in key and '"' in key):
            raise TranspileError(f"the JSON key {key!r} has no Spark path (quotes or a backslash)")
        path += f'["{key}"]' if "'" in key else f"['{key}']"
    return path


def _pointer_list(node: exp.Expr | None) -> list[str] | None:
    """The pointers of a literal list (``['/a', '/b']``, maybe cast), else None."""
    inner = node.this if isinstance(node, exp.Cast) else node
    if not isinstance(inner, exp.Array):
        return None
    items = inner.expressions
    if not all(
        isinstance(i, exp.Literal) and i.is_string and i.name.startswith("/") for i in items
    ):
        return None
    return [i.name for i in items]


def _pointers(node: exp.Expr | None) -> tuple[list[str], bool] | None:
    """(pointers, given as a list) of a JSON function's path argument, or None when the path
    is not made of JSON Pointers (a JSONPath, which sqlglot renders itself)."""
    listed = _pointer_list(node)
    if listed is not None:
        return listed, True
    if isinstance(node, exp.Literal) and node.is_string and node.name.startswith("/"):
        return [node.name], False
    return None


def _variant(document: exp.Expr, pointer: str | None) -> exp.Expr:
    parsed = exp.Anonymous(this="TRY_PARSE_JSON", expressions=[document.copy()])
    if pointer is None:
        return parsed
    path = exp.Literal.string(pointer_path(pointer))
    return exp.Anonymous(this="VARIANT_GET", expressions=[parsed, path])


def _json_kind(value: exp.Expr) -> exp.Expr:
    """DuckDB's ``json_type`` name of a VARIANT's value (NULL for SQL NULL)."""
    schema = exp.Anonymous(this="SCHEMA_OF_VARIANT", expressions=[value])
    ifs = [
        exp.If(
            this=exp.RegexpLike(this=schema.copy(), expression=exp.Literal.string(pattern)),
            true=exp.Literal.string(kind),
        )
        for pattern, kind in _JSON_KINDS
    ]
    return exp.Case(ifs=ifs, default=exp.Literal.string("DOUBLE"))


def _by_pointer(
    document: exp.Expr, found: tuple[list[str], bool], value: Callable[[exp.Expr], exp.Expr]
) -> exp.Expr:
    pointers, listed = found
    values = [value(_variant(document, p)) for p in pointers]
    return exp.Array(expressions=values) if listed else values[0]


def _as_text(value: exp.Expr) -> exp.Expr:
    return exp.Anonymous(
        this="VARIANT_GET",
        expressions=[value, exp.Literal.string("$"), exp.Literal.string("string")],
    )


def _as_json(value: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="TO_JSON", expressions=[value])


def _json_type(node: exp.JSONType) -> exp.Expr:
    path = node.expression
    if path is None:
        return _json_kind(_variant(node.this, None))
    found = _pointers(path)
    if found is None:
        raise TranspileError("json_type with a JSONPath has no Spark form (a JSON Pointer has)")
    return _by_pointer(node.this, found, _json_kind)


def _json_extract(node: exp.JSONExtract | exp.JSONExtractScalar) -> exp.Expr:
    """By JSON Pointer: the value's text (``json_extract_string``, ``->>``) or its JSON
    (``json_extract``, ``->``). A JSONPath is left to sqlglot (``get_json_object``)."""
    found = _pointers(node.expression)
    if found is None:
        return node
    text = isinstance(node, exp.JSONExtractScalar)
    return _by_pointer(node.this, found, _as_text if text else _as_json)


def _unnest(node: exp.Unnest) -> exp.Expr:
    """An ``unnest`` among a SELECT's columns is Spark's ``explode`` (a FROM's is not)."""
    parent = node.parent
    if isinstance(parent, exp.Alias):
        parent = parent.parent
    if not isinstance(parent, exp.Select) or len(node.expressions) != 1:
        return node
    explode = exp.Explode(this=node.expressions[0])
    alias = node.args.get("alias")
    return exp.alias_(explode, alias.copy(), quoted=True) if alias is not None else explode


def _str_to_time(node: exp.StrToTime) -> exp.Expr:
    fmt = node.args.get("format")
    return _strptime(node.this, fmt, bool(node.args.get("safe")))


# Nodes whose value is a list wherever they appear: ``len`` of them is a list's length.
_LISTS = (
    exp.Array,
    exp.ArrayFilter,
    exp.Split,
    exp.StringToArray,
    exp.GenerateSeries,
    exp.ArrayConcat,
    exp.RegexpSplit,
    exp.Transform,
    exp.ArrayAgg,
    exp.JSONKeys,
    exp.ArraySlice if hasattr(exp, "ArraySlice") else exp.Array,
)


def _is_list(node: exp.Expr, arrays: Collection[str]) -> bool:
    if isinstance(node, exp.Column):
        return not node.table and node.name in arrays
    if isinstance(node, exp.Paren):
        return _is_list(node.this, arrays)
    return isinstance(node, _LISTS)


def _one_based(key: exp.Expr) -> exp.Expr:
    """The index as written. sqlglot's DuckDB parser makes list indexes 0-based where it
    can type them: a number literal is folded, an integer expression gets ``+ -1``; an
    untyped one (a lambda's parameter) is left as written."""
    if isinstance(key, exp.Literal) and key.is_int:
        return exp.Literal.number(int(key.name) + 1)
    if isinstance(key, exp.Add) and key.expression == exp.Literal.number(-1):
        kind = key.this.type
        if kind is not None and kind.is_type(*exp.DataType.INTEGER_TYPES):
            base: exp.Expr = key.this
            return base
    return key


def _bracket(node: exp.Bracket) -> exp.Expr:
    """``list[i]`` is 1-based in DuckDB and NULL past the end: ``try_element_at`` in Spark.
    A text key (``struct['field']``) means the same in both."""
    keys = node.expressions
    if len(keys) != 1 or isinstance(keys[0], exp.Slice):
        raise TranspileError("a list slice or a multi-key subscript has no Spark form")
    key = keys[0]
    if isinstance(key, exp.Literal) and key.is_string:
        return node
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[node.this, _one_based(key)])


def _java_replacement(text: str) -> str:
    r"""A DuckDB (RE2) replacement as Java's: ``\1`` is ``$1``, a literal ``$`` is ``\$``."""
    out = text.replace("\\", "\x00").replace("$", "\\$")
    out = re.sub("\x00([0-9])", r"$\1", out)
    return out.replace("\x00\x00", "\\\\").replace("\x00", "")


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expr:
    options = (
        _string(node.args.get("modifiers"), "regexp_replace options")
        if node.args.get("modifiers")
        else ""
    )
    if set(options) - {"g", "i"}:
        raise TranspileError(f"regexp_replace option {options!r} has no Spark form (g, i do)")
    pattern = _string(node.expression, "a regexp_replace pattern")
    replacement = _java_replacement(
        _string(node.args.get("replacement"), "a regexp_replace replacement")
    )
    if "i" in options:
        pattern = "(?i)" + pattern
    if "g" not in options and not pattern.lstrip("(?i)").startswith("^"):
        # Spark replaces every match; DuckDB without 'g' the first one only: match the
        # shortest prefix up to the first match, and keep it.
        pattern = f"^(.*?)(?:{pattern})"
        replacement = "$1" + re.sub(r"\$([0-9])", lambda m: f"${int(m.group(1)) + 1}", replacement)
    return exp.Anonymous(
        this="REGEXP_REPLACE",
        expressions=[node.this, exp.Literal.string(pattern), exp.Literal.string(replacement)],
    )


def _regexp_extract(node: exp.RegexpExtract) -> exp.Expr:
    """DuckDB's group list (``['street', 'city']``) gives a struct; Spark takes one group."""
    group = node.args.get("group")
    if isinstance(group, exp.Array):
        names = [_string(name, "a regexp_extract group name") for name in group.expressions]
        fields = [
            exp.PropertyEQ(
                this=exp.to_identifier(name),
                expression=exp.RegexpExtract(
                    this=node.this.copy(),
                    expression=node.expression.copy(),
                    group=exp.Literal.number(index),
                ),
            )
            for index, name in enumerate(names, start=1)
        ]
        return exp.Struct(expressions=fields)
    if group is None:  # DuckDB's default is the whole match; Spark's the first group
        node.set("group", exp.Literal.number(0))
    return node


def _cast(node: exp.Cast) -> exp.Expr:
    """JSON is text on Spark (validated by the caller); sqlglot would make it ``to_json``.
    A TRY_CAST built without ``safe`` is rendered as CAST, which fails on a bad value under
    Spark's ANSI mode (Spark 4's default) instead of giving NULL: it is marked safe."""
    if node.to.is_type(exp.DataType.Type.JSON):
        node.set("to", exp.DataType.build("string"))
    if isinstance(node, exp.TryCast):
        node.set("safe", True)
    return node


def _json_schema(value: object) -> str:
    """A DuckDB ``from_json`` structure (``'["JSON"]'``) as a Spark DDL type."""
    if isinstance(value, list) and len(value) == 1:
        return f"array<{_json_schema(value[0])}>"
    if isinstance(value, dict):
        fields = ", ".join(f"`{k}`: {_json_schema(v)}" for k, v in value.items())
        return f"struct<{fields}>"
    if isinstance(value, str):
        if value.upper() == "JSON":
            return "string"  # Spark keeps a nested value as its JSON text
        return exp.DataType.build(value, dialect=COMPUTE_DIALECT).sql(DIALECT).lower()
    raise TranspileError(f"the from_json structure {value!r} has no Spark form")


def _from_json(node: exp.FromJson) -> exp.Expr:
    structure = _string(node.expression, "a from_json structure")
    try:
        schema = _json_schema(json.loads(structure))
    except ValueError as exc:
        raise TranspileError(f"the from_json structure {structure!r} is not JSON") from exc
    return exp.Anonymous(this="FROM_JSON", expressions=[node.this, exp.Literal.string(schema)])


def _unnest_pair(select: exp.Select) -> exp.Select:
    """DuckDB zips two ``unnest`` of one SELECT (the items and their 1-based index); Spark
    allows one generator: ``inline`` over ``(item, index)`` structs does both."""
    explodes = [p for p in select.expressions if isinstance(p.unalias(), exp.Explode)]
    if len(explodes) < 2:
        if explodes and not isinstance(explodes[0], exp.Alias):
            return select
        return select
    if len(explodes) > 2:
        raise TranspileError("more than two unnest in one SELECT have no Spark form")
    items, index = explodes
    series = index.unalias().this
    if not isinstance(series, exp.GenerateSeries):
        raise TranspileError("two unnest in one SELECT have no Spark form")
    x, i = exp.to_identifier("_tg_x"), exp.to_identifier("_tg_i")
    pair = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier("v"), expression=exp.column(x)),
            exp.PropertyEQ(
                this=exp.to_identifier("i"),
                expression=exp.Add(this=exp.column(i), expression=exp.Literal.number(1)),
            ),
        ]
    )
    zipped = exp.Transform(
        this=items.unalias().this, expression=exp.Lambda(this=pair, expressions=[x, i])
    )
    inline = exp.Aliases(
        this=exp.Anonymous(this="INLINE", expressions=[zipped]),
        expressions=[items.args["alias"].copy(), index.args["alias"].copy()],
    )
    kept = [p for p in select.expressions if p is not items and p is not index]
    select.set("expressions", [*kept, inline])
    return select


def _length(arrays: Collection[str]) -> Callable[[exp.Length], exp.Expr]:
    def rewrite(node: exp.Length) -> exp.Expr:
        if not _is_list(node.this, arrays):
            return node
        size = exp.ArraySize(this=node.this)
        size.type = node.type  # an integer, as the index it may be part of must know
        return size

    return rewrite


REWRITES: dict[type[exp.Expr], Callable[[Any], exp.Expr]] = {
    exp.Anonymous: _anonymous,
    exp.StrToTime: _str_to_time,
    exp.Bracket: _bracket,
    exp.RegexpReplace: _regexp_replace,
    exp.RegexpExtract: _regexp_extract,
    exp.Cast: _cast,
    exp.TryCast: _cast,
    exp.Select: _unnest_pair,
    exp.FromJson: _from_json,
    exp.RegexpFullMatch: _regexp_full_match,
    exp.JSONType: _json_type,
    exp.JSONExtract: _json_extract,
    exp.JSONExtractScalar: _json_extract,
    exp.Unnest: _unnest,
}


def spark_tree(tree: exp.Expr, arrays: Collection[str] = ()) -> exp.Expr:
    """A copy of ``tree`` (compute dialect) rewritten to mean the same on Spark.

    ``arrays``: names of columns that hold lists (derived values, unnested items), which
    only a type can tell apart from text in ``len(x)``.
    """
    rewrites: dict[type[exp.Expr], Callable[[Any], exp.Expr]] = {
        **REWRITES,
        exp.Length: _length(arrays),
    }

    def rewrite(node: exp.Expr) -> exp.Expr:
        for kind in type(node).__mro__:
            found = rewrites.get(kind)
            if found is not None:
                new = found(node)
                # A function recognised late may itself need a rewrite (``len`` of a list).
                late = isinstance(node, exp.Anonymous) and not isinstance(new, exp.Anonymous)
                return rewrite(new) if late else new
        return node

    root = tree.copy()
    # Children first: a rewrite builds its node from parts already in Spark's form.
    for node in reversed(list(root.dfs())):
        new = rewrite(node)
        if new is node:
            continue
        if node is root:
            root = new
        else:
            node.replace(new)
    return root


def to_spark(tree: exp.Expr, arrays: Collection[str] = ()) -> str:
    """Spark SQL text of a compute-dialect tree; raises ``TranspileError`` when a part has
    no Spark form."""
    rewritten = spark_tree(tree, arrays)
    try:
        return rewritten.sql(dialect=DIALECT, unsupported_level=ErrorLevel.RAISE)
    except Exception as exc:  # sqlglot's UnsupportedError and its generator's own errors
        raise TranspileError(str(exc).strip().splitlines()[0]) from exc
