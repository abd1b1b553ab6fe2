"""The errors the export reports to its user as one line and a non-zero exit."""


class ExportError(Exception):
    """A failure the user can act on: bad setting, unwritable repository, failed check."""


class ConfigError(ExportError):
    """A setting (flag or IRIS_* variable) has a bad value."""


class ParityError(ExportError):
    """The ONNX model does not behave like the scikit-learn model it was converted from."""


class VerificationError(ExportError):
    """A published version directory is missing a file, or a file is corrupt or inconsistent."""
