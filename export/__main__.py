"""``python -m export``: export a new model version, or ``--verify DIR`` an existing one."""

import os
import signal
import sys

from export.config import READER
from export.errors import ExportError


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt  # unwinds like Ctrl-C, so staging directories are removed


def main(argv: list[str] | None = None) -> int:
    """Run the export (or --verify); return the process exit status (exits 2 on a usage error)."""
    settings = READER.read_or_exit(sys.argv[1:] if argv is None else argv, os.environ)
    try:
        # Imported here so a settings error is reported before the heavy libraries load.
        from export.pipeline import export_model
        from export.verify import verify_version

        if settings.verify is not None:
            verify_version(settings.verify)
            print(f"verified {settings.verify}")
        else:
            export_model(settings)
    except ExportError as error:
        print(f"export: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("export: interrupted; nothing was published", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    sys.exit(main())
