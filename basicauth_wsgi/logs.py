"""The library's one logger: every failure, block, overload and reload line goes to it.

Its name is part of the contract (SPEC §3): fail2ban filters and logging
configurations name ``basicauth_wsgi``, so every module logs here rather
than under its own ``__name__``::

    from .logs import logger
    logger.warning("authentication failed: ...")
"""

from __future__ import annotations

import logging

__all__ = ["LOGGER_NAME", "logger"]

#: The logger's name, as logging configurations and the fail2ban filter spell it.
LOGGER_NAME = "basicauth_wsgi"

logger = logging.getLogger(LOGGER_NAME)
