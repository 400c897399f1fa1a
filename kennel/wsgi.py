import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")
application = get_wsgi_application()
# What is loaded by now lives as long as the worker: keep it out of the garbage collector's full scans.
# Pages drop a few thousand objects through Django's reference cycles (template contexts), and without
# this every few requests paid ~100 ms for a full scan (measured with bench/dashboard.py).
gc.freeze()
