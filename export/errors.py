"""The errors the export reports to its user as one line and a non-zero exit."""


class ExportError(Exception):
    """A failure the user can act on: unwritable repository, failed check (a bad setting is a
    common.settings.SettingsError, a usage error)."""


class ParityError(ExportError):
    """The ONNX model does not behave like the scikit-learn model it was converted from."""


class VerificationError(ExportError):
    """A published version directory is missing a file, or a file is corrupt or inconsistent."""
