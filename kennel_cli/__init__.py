"""``kennel``: the command-line client of the Kennel portal.

It talks only to Kennel's REST API (``/api/v1/``), never to OpenStack, so the portal's rules, scoping,
quotas and audit log apply to it exactly as to the web pages. Standard library only, so that it installs
anywhere Python 3.11 runs.
"""

__version__ = "0.1.0"
