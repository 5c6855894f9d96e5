"""
One options table, everywhere: kahttpd's --help is generated from the option table in
src/server/config.c, and README.md's Options table must say the same: the same options,
each with the same argument placeholder and the same default. docs/keepalive.md's table
of defaults must agree with --help for every option it names. A failure lists each
difference.
"""
from conftest import KAHTTPD, REPO
from optdoc import diff, help_sections, markdown_table, run_help

HEADER = "| option | default | meaning |"


def kahttpd_help_options():
    sections = help_sections(run_help(KAHTTPD))
    opts = {}
    for section in sections.values():
        opts.update(section)
    assert "--listen" in opts and "--help" in opts, sections
    return opts


def test_options_readme_table_matches_help():
    readme = markdown_table(REPO / "README.md", "## Options", HEADER)
    problems = diff("README.md", readme, "kahttpd --help", kahttpd_help_options())
    assert not problems, "README.md's Options table and --help differ:\n  " + "\n  ".join(problems)


def test_options_keepalive_doc_defaults_match_help():
    doc = markdown_table(REPO / "docs" / "keepalive.md", "## The options, their defaults, and why",
                         "| option | default | why this default |")
    help_opts = kahttpd_help_options()
    problems = diff("docs/keepalive.md", doc, "kahttpd --help",
                    {k: v for k, v in help_opts.items() if k in doc})
    assert not problems, "docs/keepalive.md and --help differ:\n  " + "\n  ".join(problems)
