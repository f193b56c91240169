"""SHA-256 from CPython's own implementation rather than OpenSSL's.

`hashlib` loads OpenSSL's libcrypto as soon as it is imported: 3.5 MB of the tray app's RSS for
as long as it runs, when the app hashes a few short strings (an order without an id, the single
instance's name). The builtin module computes the same digests; hashlib remains the fallback where
a build left the builtin out.
"""

from __future__ import annotations

try:
    from _sha2 import sha256  # Python 3.12+
except ImportError:
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:  # a build without the builtin hashes
        from hashlib import sha256


def sha256_hex(data: bytes) -> str:
    return sha256(data).hexdigest()
