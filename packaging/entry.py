"""The frozen program's entry point: PyInstaller needs a script, the app needs `notifier.launcher.main`
(the command line, or the speech helper without it)."""

from notifier.launcher import main

raise SystemExit(main())
