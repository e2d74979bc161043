from django.apps import AppConfig


class GalleryConfig(AppConfig):
    name = "gallery"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from . import cleanup  # noqa: F401  (connects the signal handlers)
