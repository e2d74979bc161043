"""
Settings of the end-to-end site: every value that a test run chooses comes
from the environment, so that one project runs over SQLite and PostgreSQL
and MariaDB with MEDIA_ROOT on a mediafs mount.

    MEDIA_ROOT         the media root (the mount point)
    E2E_DB             'sqlite', 'postgresql' or 'mariadb'
    E2E_SQLITE_PATH    the SQLite database file (absolute)
    E2E_PG_HOST        PostgreSQL host or unix socket directory
    E2E_PG_PORT        PostgreSQL port ('' for the default)
    E2E_PG_NAME        PostgreSQL database
    E2E_PG_USER        PostgreSQL role
    E2E_MY_SOCKET      MariaDB unix socket
    E2E_MY_NAME        MariaDB database
    E2E_MY_USER        MariaDB account
"""
import os

SECRET_KEY = "e2e-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = []
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "gallery",
]

E2E_DB = os.environ.get("E2E_DB", "sqlite")
if E2E_DB == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["E2E_PG_NAME"],
            "USER": os.environ["E2E_PG_USER"],
            "HOST": os.environ["E2E_PG_HOST"],
            "PORT": os.environ.get("E2E_PG_PORT", ""),
        }
    }
elif E2E_DB == "mariadb":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ["E2E_MY_NAME"],
            "USER": os.environ["E2E_MY_USER"],
            # A HOST that starts with '/' is the unix socket.
            "HOST": os.environ["E2E_MY_SOCKET"],
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["E2E_SQLITE_PATH"],
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

MEDIA_ROOT = os.environ["MEDIA_ROOT"]
MEDIA_URL = "/media/"

# Django's own defaults, written out because the tests depend on them:
# uploads above 2.5 MB go through a temporary file in /tmp and are moved
# (copied across filesystems) into MEDIA_ROOT.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440
FILE_UPLOAD_PERMISSIONS = 0o644
