"""The library's input error, in a module with no imports: the command line catches it without
loading numpy (``rlscaling --help`` stays fast)."""


class InputError(ValueError):
    """Raised for input that cannot be fitted; the message says what to change."""
