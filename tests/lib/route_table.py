# SPDX-License-Identifier: BSD-2-Clause
"""route_table.py: the route table of app/routes.c, read strictly, for the
tests that must cover every route (67-cross-user-matrix, 68-http-fuzz).

    sys.path.insert(0, "tests/lib")
    from route_table import read_routes
    rows = read_routes("app/routes.c", {"@metrics_path": "/metrics"})
    # [(["GET", "HEAD"], "/", "page_get"), ...]

Every row of `static const struct route routes[] = { ... };` must read as
{METHODS, PATTERN, handler, header}, where METHODS and PATTERN are string
literals or macros the file #defines as one string literal. A pattern that
names a configuration key ("@metrics_path") becomes the path the caller
gives for it. Anything else raises RouteTableError: a row that does not
read, a macro that does not resolve, a configured path the caller gave no
value for, text between rows, no table at all. A regular expression that
only finds the rows it understands would skip the others without a word,
and "every route" would quietly mean fewer.
"""

import re

STRING = r'"((?:[^"\\]|\\.)*)"'
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


class RouteTableError(Exception):
    pass


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _value(field, defines, what, row):
    m = re.fullmatch(STRING, field)
    if m:
        return m.group(1)
    if re.fullmatch(IDENT, field) and field in defines:
        return defines[field]
    raise RouteTableError("cannot read the %s %r of the row {%s}" % (what, field, row))


def read_routes(path, configured):
    """The rows of path's route table: a list of (methods, pattern,
    handler); configured maps "@key" patterns to their paths."""
    text = _strip_comments(open(path, encoding="utf-8").read())
    defines = dict(re.findall(r"^\s*#\s*define\s+(%s)\s+%s\s*$" % (IDENT, STRING), text, flags=re.M))
    start = re.search(r"\broutes\s*\[\s*\]\s*=\s*\{", text)
    if not start:
        raise RouteTableError("no 'routes[] = {' in " + path)
    rows, depth, i, row_at, between = [], 1, start.end(), None, ""
    while depth > 0:
        if i >= len(text):
            raise RouteTableError("the route table in %s does not end" % path)
        c = text[i]
        if c == "{":
            if depth == 1:
                if between.strip(" \t\n,"):
                    raise RouteTableError("cannot read %r between the rows of %s" % (between.strip(), path))
                row_at = i + 1
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 1:
                rows.append(text[row_at:i])
                between = ""
        elif depth == 1:
            between += c
        i += 1
    if between.strip(" \t\n,"):
        raise RouteTableError("cannot read %r at the end of the table in %s" % (between.strip(), path))
    if not rows:
        raise RouteTableError("an empty route table in " + path)
    table = []
    for row in rows:
        fields = [f.strip() for f in row.split(",")]
        if fields and fields[-1] == "":
            fields.pop()
        if len(fields) != 4 or not re.fullmatch(IDENT, fields[2]):
            raise RouteTableError("cannot read the row {%s}: not {methods, pattern, handler, header}" % row.strip())
        methods = _value(fields[0], defines, "methods", row.strip()).split()
        pattern = _value(fields[1], defines, "pattern", row.strip())
        if not methods or not all(re.fullmatch(r"[A-Z]+", m) for m in methods):
            raise RouteTableError("cannot read the methods of the row {%s}" % row.strip())
        if pattern.startswith("@"):
            if pattern not in configured:
                raise RouteTableError("the row {%s} takes its path from %s: the test gives it none"
                                      % (row.strip(), pattern[1:]))
            pattern = configured[pattern]
        if not pattern.startswith("/"):
            raise RouteTableError("cannot read the pattern of the row {%s}" % row.strip())
        table.append((methods, pattern, fields[2]))
    return table
