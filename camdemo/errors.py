"""The one exception type that camdemo raises for problems a user can cause."""


class CamdemoError(ValueError):
    """A problem with the user's input or choices, with a message meant for a human.

    Raised for unreadable or unsuitable images, unknown backbones, layers, classes or
    methods, a method that does not apply to a backbone, and weights that are missing.
    The message says what went wrong and, where there is one, what to do instead.
    """


class Cancelled(CamdemoError):
    """A job stopped before it finished: its caller asked (the progress callback raised it), its client
    left, its time budget ran out, or the server is shutting down. The message says which."""
