"""Order Notifier: announces shop orders on the desktop until someone acknowledges them."""

__version__ = "0.1.0"
