"""The one error type users see: a bad config value, file or command line."""


class LabaldError(Exception):
    """A problem with the user's input; its message names the problem and the fix in one line."""
