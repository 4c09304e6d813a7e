"""The one exception symconv raises for anything a user asked for wrongly."""


class SymconvError(ValueError):
    """A request symconv cannot honour: bad shapes, impossible layers, too large.

    The message is one line naming the parameter, the value received and what
    was expected, so the CLI can print it as it is and exit with status 2.
    """
