"""
Models of the end-to-end site.  They hold file paths in the shapes that
real Django projects use, and in the shapes that tools/django-columns must
find:

    Album.cover          ImageField, upload_to callable, a default file
    Photo.image          ImageField, strftime upload_to, width/height fields
    Photo.thumbnail      ImageField, blank ('' when there is none)
    PressPhoto.credit    FileField on a multi-table child (its own table)
    FeaturedPhoto        a proxy: the same table as Photo
    Attachment.file      FileField inherited from an abstract model, with
                         a custom table and column name
    Avatar.image         ImageField whose old files the application deletes
                         itself (gallery/cleanup.py, as django-cleanup does)
    Banner.url           a CharField holding MEDIA_URL-style values
                         ('/media/banners/x.png'): not a FileField, so it
                         is configured by hand with strip_prefix
"""
from django.db import models
from django.utils.text import slugify

DEFAULT_COVER = "defaults/cover.png"


def album_cover_path(instance, filename):
    return "albums/{}/{}".format(slugify(instance.title) or "untitled", filename)


def attachment_path(instance, filename):
    return "attachments/{}/{}".format(slugify(instance.owner), filename)


class Album(models.Model):
    title = models.CharField(max_length=100)
    cover = models.ImageField(upload_to=album_cover_path, default=DEFAULT_COVER)


class Photo(models.Model):
    album = models.ForeignKey(Album, null=True, blank=True, on_delete=models.CASCADE)
    tag = models.CharField(max_length=40, blank=True)
    image = models.ImageField(upload_to="photos/%Y/%m/", width_field="width",
                              height_field="height")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    thumbnail = models.ImageField(upload_to="thumbs/", blank=True)


class PressPhoto(Photo):
    agency = models.CharField(max_length=40)
    credit = models.FileField(upload_to="credits/")


class FeaturedPhoto(Photo):
    class Meta:
        proxy = True


class Uploaded(models.Model):
    file = models.FileField(upload_to=attachment_path, db_column="path", max_length=200)

    class Meta:
        abstract = True


class Attachment(Uploaded):
    owner = models.CharField(max_length=40)

    class Meta:
        db_table = "legacy_attachment"


class Avatar(models.Model):
    user = models.CharField(max_length=40)
    image = models.ImageField(upload_to="avatars/")


class Banner(models.Model):
    url = models.CharField(max_length=200)
