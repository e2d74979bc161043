"""
What django-cleanup and hand-written signal handlers do: when an Avatar's
image is replaced or the Avatar is deleted, delete the old file through
the storage at once.  The handlers run inside the caller's transaction and
check nothing else, so a rollback, or a second row that references the same
file, leaves a row that names a deleted file.  The end-to-end test shows
how mediafs recovers those files.
"""
from django.db.models.signals import post_delete, pre_save
from django.dispatch import receiver

from .models import Avatar


@receiver(pre_save, sender=Avatar)
def delete_replaced_image(sender, instance, **kwargs):
    if not instance.pk:
        return
    old = sender.objects.filter(pk=instance.pk).values_list("image", flat=True).first()
    if old and old != instance.image.name:
        instance.image.storage.delete(old)


@receiver(post_delete, sender=Avatar)
def delete_image_of_deleted_row(sender, instance, **kwargs):
    if instance.image.name:
        instance.image.storage.delete(instance.image.name)
