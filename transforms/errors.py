"""The one base of legatura's own errors: the CLI turns any of them into one `Error: ...` line and exit 1."""


class LegaturaError(Exception):
    """Something legatura refuses or cannot do, said in one line: what failed, where, and what to do."""
