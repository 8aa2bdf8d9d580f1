"""The error a user's input raises (imports nothing, so the command line can catch it before loading the model)."""


class InputError(ValueError):
    """Bad input from a user (file, flag, value); its message is one line for the user."""
