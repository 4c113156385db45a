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


_FUNCTIONS: dict[str, Callable[[list[exp.Expr]], exp.Expr]] = {
    "try_strptime": lambda args: _strptime(args[0], args[1] if len(args) > 1 else None, True),
    "json_valid": _json_valid,
    "list_sum": _list_sum,
}


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
