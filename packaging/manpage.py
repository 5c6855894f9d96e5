#!/usr/bin/python3
"""
Writes a man page from a template and a program's --help, so that the page's option
list comes from the same option table as --help and cannot drift from it.

    packaging/manpage.py TEMPLATE PROGRAM > PAGE

The template is roff with three placeholders: @VERSION@ (the first line of
`PROGRAM --version`), @DATE@ (the last commit's date, or SOURCE_DATE_EPOCH, so that
a rebuild gives the same bytes) and @OPTIONS@, replaced by one subsection per options
section of --help. --help is read as tests/e2e/optdoc.py reads it: a section starts
at an unindented line that contains "options" and runs until its option lines end;
an option line is `  --name [ARG]  help [default]`, continued on more-indented lines.
"""
import os
import re
import subprocess
import sys
import time

OPTION_RE = re.compile(r"^  (--[a-z0-9][a-z0-9-]*)(?: (\S+))?(?:  +|$)(.*)$")
DEFAULT_RE = re.compile(r"\s*\[([^\[\]]*)\]$")


def roff(text):
    """Text for a roff line: backslashes and minus signs escaped, no leading dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def sections(help_text):
    """[(title, intro, [(name, arg, help, default)])] from --help output."""
    out, heading, entry = [], None, None
    for line in help_text.splitlines():
        m = OPTION_RE.match(line)
        if m and heading is not None:
            if not out or out[-1][0] is not heading:
                out.append((heading, []))
            entry = [m.group(1), m.group(2) or "", m.group(3)]
            out[-1][1].append(entry)
        elif line.startswith("   ") and entry is not None:
            entry[2] += " " + line.strip()
        elif line and not line[0].isspace():
            # An unindented line: a section heading when it names options (it may
            # continue on the next unindented lines until one ends with a colon).
            if entry is None and heading is not None and not heading[-1].endswith(":"):
                heading.append(line)
            elif "options" in line:
                heading = [line]
            else:
                heading = None
            entry = None
        else:
            entry = None
            if heading is not None and not heading[-1].endswith(":"):
                heading = None
    result = []
    for heading, entries in out:
        text = " ".join(heading).rstrip(":")
        title, _, rest = text.partition(" (")
        intro = rest[:-1] if rest.endswith(")") else rest
        opts = []
        for name, arg, help_ in entries:
            d = DEFAULT_RE.search(help_)
            default = d.group(1) if d else ""
            if d:
                help_ = help_[:d.start()]
            opts.append((name, arg, help_.strip(), default))
        result.append((title, intro, opts))
    return result


def options_roff(help_text):
    lines = []
    found = sections(help_text)
    for title, intro, opts in found:
        # "default in brackets" is how --help shows them; the page says "Default:".
        intro = re.sub(r";? *default in brackets$", "", intro)
        if len(found) > 1:
            lines.append(".SS " + roff(title[:1].upper() + title[1:]))
        if intro:
            lines.append(".PP")
            lines.append(roff(intro[:1].upper() + intro[1:] + "."))
        for name, arg, help_, default in opts:
            lines.append(".TP")
            lines.append("\\fB" + roff(name) + "\\fR" + (" \\fI" + roff(arg) + "\\fR" if arg else ""))
            text = help_
            if text and not text.endswith("."):
                text += "."
            lines.append(roff(text))
            if default:
                lines.append("Default: " + roff(default) + ".")
    return "\n".join(lines)


def build_date():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        p = subprocess.run(["git", "log", "-1", "--format=%ct"], capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.abspath(__file__)))
        epoch = p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else str(int(time.time()))
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch)))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: manpage.py TEMPLATE PROGRAM")
    template, program = sys.argv[1:]
    help_text = subprocess.run([program, "--help"], capture_output=True, text=True,
                               check=True).stdout
    version = subprocess.run([program, "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    options = options_roff(help_text)
    if not options:
        sys.exit(f"manpage.py: no options section in {program} --help")
    with open(template) as f:
        page = f.read()
    page = page.replace("@VERSION@", version).replace("@DATE@", build_date())
    sys.stdout.write(page.replace("@OPTIONS@", options))


if __name__ == "__main__":
    main()
