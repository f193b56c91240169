"""The Qt-free heart of the notifier: events, sources, the ledger, settings, secrets, wording."""
