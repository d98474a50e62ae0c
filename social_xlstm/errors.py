"""The one error type for mistakes the user made (bad file, bad option).

The command line catches :class:`UserError`, prints its message and exits with status 2,
without a traceback. Everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem in the user's input: a file, a column, an option."""


class DataError(UserError):
    """A problem in a data file: names the file, the column and example rows."""
