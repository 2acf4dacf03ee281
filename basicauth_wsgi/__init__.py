"""HTTP Basic authentication (RFC 7617) for any WSGI application.

The package is the library: a transport-free core (:mod:`.core`) that makes
every decision, the WSGI middleware around it (:mod:`.middleware`), user
stores and htpasswd files, the brute-force throttle (:mod:`.throttle`) and
the command line (:mod:`.cli`). The bundled example API lives apart, in
:mod:`.example`::

    from basicauth_wsgi import BasicAuth
    app = BasicAuth(app, {"admin": "SuperSecretPwd"}, exclude=["/health"])
"""

from __future__ import annotations

from .cache import VerificationCache
from .header import Credentials, build_challenge, parse_authorization
from .htpasswd import HtgroupFile, HtpasswdFile
from .middleware import BasicAuth
from .rules import Rule
from .throttle import Throttle, ThrottleStore
from .verifiers import CallableVerifier, HashedUsers, PlainUsers, Verifier

__version__ = "0.1.0.dev0"

__all__ = [
    "BasicAuth",
    "CallableVerifier",
    "Credentials",
    "HashedUsers",
    "HtgroupFile",
    "HtpasswdFile",
    "PlainUsers",
    "Rule",
    "Throttle",
    "ThrottleStore",
    "VerificationCache",
    "Verifier",
    "__version__",
    "build_challenge",
    "parse_authorization",
]
