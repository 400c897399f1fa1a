"""One WSGI entry point for every OpenStack API the devcloud serves.

gunicorn serves ``kennel_devcloud.wsgi:application`` with the service's
module named in ``DEVCLOUD_WSGI_MODULE`` (e.g. ``keystone.wsgi.api``).
The OpenStack apps parse ``sys.argv`` with oslo.config; under gunicorn that
is gunicorn's own command line, which they reject and crash-loop on, so it
is reset before the app is imported. Apps that find their config files only
on the command line (Cinder) get them from ``DEVCLOUD_WSGI_ARGS``.
"""

import importlib
import os
import sys

sys.argv = sys.argv[:1] + os.environ.get("DEVCLOUD_WSGI_ARGS", "").split()

application = importlib.import_module(os.environ["DEVCLOUD_WSGI_MODULE"]).application
