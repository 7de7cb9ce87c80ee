"""User-facing errors. Each carries one plain-language line; the CLI prints it, the GUI shows it."""


class RefusionError(Exception):
    """Base class: ``str(err)`` is a complete sentence meant for the user."""


class InputError(RefusionError):
    """Bad image input: missing, not an image, corrupt, unsupported, or sizes that differ."""


class WeightsError(RefusionError):
    """Weights that cannot be read or do not fit the network."""


class RunError(RefusionError):
    """A training run folder that is missing, incomplete or not a run."""
