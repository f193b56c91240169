"""The frozen program's entry point: PyInstaller needs a script, the app needs `notifier.cli.main`."""

from notifier.cli import main

raise SystemExit(main())
