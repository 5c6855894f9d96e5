"""
Readers for the two places an option is described: a program's --help (generated from
its option table) and a Markdown table in README.md or docs/. test_options_doc.py and
test_kaprobe.py compare the two, so that neither can drift from the other.

--help is read as lines `  --name [ARG]  help text [default]`, where the help text may
continue on more-indented lines and the default (in brackets, at the very end) may be
absent. A section starts at any unindented line that contains "options"; options are
returned per section. A Markdown table is found by the heading above it and its header
row; its first column names one or more options (`--a ARG`, `--b`), its second the
default, with backticks dropped and `\\|` read as `|`.
"""
import re
import subprocess

OPTION_RE = re.compile(r"^  (--[a-z0-9][a-z0-9-]*)(?: (\S+))?(?:  +|$)(.*)$")
DEFAULT_RE = re.compile(r"\s*\[([^\[\]]*)\]$")


def run_help(binary):
    p = subprocess.run([binary, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=30)
    assert p.returncode == 0, (binary, p)
    assert p.stderr == b"", p.stderr
    return p.stdout.decode()


def help_sections(text):
    """{section line: {"--name": (ARG or "", default or "")}} from --help output."""
    sections, current, entry = {}, None, None
    entries = []  # (section, name, arg, help text so far)

    for line in text.splitlines():
        m = OPTION_RE.match(line)
        if m and current is not None:
            entry = [current, m.group(1), m.group(2) or "", m.group(3)]
            entries.append(entry)
        elif line.startswith("  --"):
            raise AssertionError(f"cannot read this --help line (an option, then two spaces "
                                 f"before its help text): {line!r}")
        elif line.startswith("   ") and entry is not None:
            entry[3] += " " + line.strip()
        else:
            entry = None
            if line and not line[0].isspace() and "options" in line:
                current = line
                sections[current] = {}
    for section, name, arg, help_text in entries:
        d = DEFAULT_RE.search(help_text)
        assert name not in sections[section], f"{name} twice in {section!r}"
        sections[section][name] = (arg, d.group(1) if d else "")
    return sections


def _cells(row):
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def markdown_table(path, heading, header):
    """{"--name": (ARG or "", default)} from the first table with this header row after
    the line `heading` in the file at path."""
    lines = path.read_text().splitlines()
    assert heading in lines, f"{path}: no line {heading!r}"
    start = lines.index(heading)
    want = _cells(header)
    rows = None
    for line in lines[start + 1:]:
        if rows is None:
            if line.startswith("#"):
                break  # the next section began: no table under this heading
            if line.startswith("|") and _cells(line) == want:
                rows = []
            continue
        if not line.startswith("|"):
            break
        if set(line) <= set("|-: "):
            continue  # the |---| separator
        rows.append(_cells(line))
    assert rows, f"{path}: no table {header!r} under {heading!r}"

    table = {}
    for cells in rows:
        default = cells[1].replace("`", "").replace("\\|", "|")
        for spec in cells[0].split(", "):
            spec = spec.strip("`").replace("\\|", "|")
            name, _, arg = spec.partition(" ")
            assert name.startswith("--"), f"{path}: {cells[0]!r} does not name an option"
            assert name not in table, f"{path}: {name} twice in the table under {heading!r}"
            table[name] = (arg, default)
    return table


def diff(doc_name, doc, help_name, help_opts):
    """Lines saying where doc and help disagree; empty when they agree."""
    out = []
    for name in sorted(set(doc) | set(help_opts)):
        if name not in help_opts:
            out.append(f"{name}: in {doc_name}, not in {help_name}")
        elif name not in doc:
            out.append(f"{name}: in {help_name}, not in {doc_name}")
        elif doc[name] != help_opts[name]:
            (da, dd), (ha, hd) = doc[name], help_opts[name]
            out.append(f"{name}: {doc_name} says {' '.join(filter(None, (name, da)))} "
                       f"default {dd!r}; {help_name} says "
                       f"{' '.join(filter(None, (name, ha)))} default {hd!r}")
    return out
