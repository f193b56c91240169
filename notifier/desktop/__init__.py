"""The tray app (PySide6). Imports notifier.core, never notifier.server."""
