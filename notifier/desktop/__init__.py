"""The tray app (PySide6). Imports notifier.core only (tests/core/test_layers.py checks it)."""
