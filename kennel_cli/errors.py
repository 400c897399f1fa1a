"""Exit codes and the one exception type commands raise to end with a message."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """What ``kennel`` returns to the shell. Documented in ``kennel --help`` and the README."""

    OK = 0
    ERROR = 1  # the server refused the input (400) or failed (5xx)
    USAGE = 2  # wrong arguments, or a question that needs a terminal
    AUTH = 3  # not logged in, or the server refused the token
    NOT_FOUND = 4  # no such object, or not one you may see
    REFUSED = 5  # not allowed for your role (403), a conflict (409), or too many attempts (429)
    TIMEOUT = 6  # --wait gave up before the thing finished
    UNREACHABLE = 7  # no answer from the server (network, TLS, DNS)
    INTERRUPTED = 130  # Ctrl-C


EXIT_CODES_HELP = """exit codes:
  0  success
  1  the server refused the input or failed (its reason is printed)
  2  usage error (see --help), or a confirmation that needs a terminal
  3  not logged in, or the token was refused: run 'kennel login URL'
  4  not found, or not visible to you
  5  not allowed for your role, refused (conflict, cooldown) or rate-limited
  6  timed out while waiting (--wait)
  7  could not reach the server
"""


class CliError(Exception):
    """Ends the command: ``message`` goes to stderr, ``code`` to the shell."""

    def __init__(self, message: str, code: Exit = Exit.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
