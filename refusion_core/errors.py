"""User-facing errors. Each carries one plain-language line; the CLI prints it, the GUI shows it."""


class RefusionError(Exception):
    """Base class: ``str(err)`` is a complete sentence meant for the user."""


class InputError(RefusionError):
    """Bad image input: missing, not an image, corrupt, unsupported, or sizes that differ."""


class SizeMismatchError(InputError):
    """The images of a pair differ in size: they are not registered (an app offers to align them)."""


class WeightsError(RefusionError):
    """Weights that cannot be read or do not fit the network."""


class RunError(RefusionError):
    """A training run folder that is missing, incomplete or not a run."""


class OutputError(RefusionError):
    """An output that cannot be written: the disk is full, the folder is read-only, the path is a folder."""


def os_error_line(err: OSError) -> str:
    """One plain sentence for an operating-system error (reading or writing a file)."""
    import errno

    where = f" {err.filename}" if getattr(err, "filename", None) else ""
    if err.errno == errno.ENOSPC:
        return f"No space left on the disk{' for' + where if where else ''}; nothing was written. Free some space and retry"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Permission denied:{where or ' a file'} cannot be written or read (read-only folder or file?)"
    if err.errno == errno.EISDIR:
        return f"{where.strip() or 'The path'} is a folder, not a file"
    if err.errno == errno.ENOTDIR:
        return f"A part of{where} is a file, not a folder"
    reason = err.strerror or type(err).__name__
    return f"{reason}{':' + where if where else ''}"
