"""The `notifier` commands: argument parsing, printed sentences and exit codes.

Commands live here, beside the entry point (`notifier/cli.py`), and call down into `core`,
`server` and `desktop` with plain values; nothing below imports them back.
"""
