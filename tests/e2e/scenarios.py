"""
usage: scenarios.py prepare|run

Drives the end-to-end site (tests/e2e/site) through Django's own APIs with
MEDIA_ROOT on a mediafs mount, and checks after each scan what mediafs did.

  prepare  creates the tables (migrate --run-syncdb) and the site that
           exists before mediafs: a default file, rows with their files,
           a forgotten orphan.  MEDIA_ROOT is a plain directory then.
  run      MEDIA_ROOT is mounted over itself; runs every scenario, scans
           with mediactl, checks files through Django's storage, BACKING
           through a descriptor opened before the mount, and the
           quarantine through mediactl.

Environment: the settings' variables (see site/e2esite/settings.py), and
  MEDIACTL_BIN, MEDIAFS_RUNTIME_DIR   how to reach the daemon
  E2E_STATE                          a JSON file carried from prepare to run
  E2E_BACKING_FD                     a descriptor of BACKING (run only)
  E2E_MIN_AGE_S, E2E_GRACE_S, E2E_TEMP_MAX_AGE_S   the mount's settings

Presence is always checked in BACKING or with mediactl, never through the
mount: a lookup of a quarantined path through the mount restores it.
Exits 0 when every check passed, 1 otherwise.
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import time

import django

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site")
sys.path.insert(0, SITE)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2esite.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.files.uploadedfile import (  # noqa: E402
    SimpleUploadedFile, TemporaryUploadedFile)
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from PIL import Image  # noqa: E402

from gallery.models import (  # noqa: E402
    DEFAULT_COVER, Album, Attachment, Avatar, Banner, Photo, PressPhoto)

MARGIN_S = 0.4          # added to every wait for an age to pass
BIG_UPLOAD_BYTES = 3 * 1024 * 1024   # above FILE_UPLOAD_MAX_MEMORY_SIZE
STRIP_PREFIXES = ("https://cdn.example.com/media/", "/media/")
NEGATIVE_TIMEOUT_S = 10  # mediafs's default (-o negative_timeout)


class Rollback(Exception):
    """Raised inside transaction.atomic() to roll it back."""


# ---------------------------------------------------------------------
# Content, digests and the report
# ---------------------------------------------------------------------

def image_bytes(seed, fmt="JPEG"):
    """A small real image, different for every seed below 256."""
    img = Image.new("RGB", (48, 32), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    img.putpixel((seed % 48, seed % 32), (255, 255, 255))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def digest(data):
    return hashlib.sha256(data).hexdigest()


# Checks that fail because of a known mediafs bug.  Such a check prints
# XFAIL and does not fail the run; if it passes, it prints XPASS and fails
# the run, so that the entry is removed together with the fix.
KNOWN_BUGS = {}


class Report:
    """Checks grouped by scenario; a failed check never stops the run."""

    def __init__(self):
        self.scenario = None
        self.results = {}       # scenario -> {"ok": n, "FAIL": n, "XFAIL": n, "XPASS": n}
        self.order = []
        self.started = time.monotonic()

    def begin(self, name, what):
        self.scenario = name
        if name not in self.results:
            self.results[name] = dict.fromkeys(("ok", "FAIL", "XFAIL", "XPASS"), 0)
            self.order.append(name)
        print("\n== %s: %s (t=%.1fs)" % (name, what, time.monotonic() - self.started))
        sys.stdout.flush()

    def note(self, what):
        print("\n-- %s (t=%.1fs)" % (what, time.monotonic() - self.started))
        sys.stdout.flush()

    def check(self, cond, what, detail="", scenario=None, known_bug=None):
        """Count a check for scenario (default: the current one)."""
        scenario = scenario or self.scenario
        if scenario not in self.results:
            self.results[scenario] = dict.fromkeys(("ok", "FAIL", "XFAIL", "XPASS"), 0)
            self.order.append(scenario)
        if scenario != self.scenario:
            what = scenario + ": " + what
        if known_bug:
            outcome = "XPASS" if cond else "XFAIL"
            what += " [known bug %s]" % known_bug
        else:
            outcome = "ok" if cond else "FAIL"
        self.results[scenario][outcome] += 1
        if detail != "" and outcome in ("FAIL", "XFAIL"):
            what += ": " + str(detail)
        print("   %-5s %s" % (outcome, what))
        if outcome == "XPASS":
            print("         the bug seems fixed: remove '%s' from KNOWN_BUGS in %s"
                  % (known_bug, os.path.basename(__file__)))
        sys.stdout.flush()
        return cond

    def summary(self):
        totals = dict.fromkeys(("ok", "FAIL", "XFAIL", "XPASS"), 0)
        print("\n%-28s %s" % ("scenario", "result"))
        for name in self.order:
            counts = self.results[name]
            for key in totals:
                totals[key] += counts[key]
            if counts["FAIL"] or counts["XPASS"]:
                text = "FAILED (%d of %d checks)" % (counts["FAIL"] + counts["XPASS"],
                                                    sum(counts.values()))
            else:
                text = "ok (%d checks)" % counts["ok"]
            if counts["XFAIL"]:
                text += ", %d known-bug failures" % counts["XFAIL"]
            print("%-28s %s" % (name, text))
        print("%d checks passed, %d failed, %d known-bug failures, %d unexpected passes, "
              "in %.1f s" % (totals["ok"], totals["FAIL"], totals["XFAIL"], totals["XPASS"],
                             time.monotonic() - self.started))
        for bug, text in KNOWN_BUGS.items():
            print("known bug %s: %s" % (bug, text))
        return totals["FAIL"] == 0 and totals["XPASS"] == 0


# ---------------------------------------------------------------------
# mediactl, BACKING and the quarantine
# ---------------------------------------------------------------------

def mediactl(*args):
    """Run mediactl --json --mount MEDIA_ROOT args; (exit status, JSON or None)."""
    cmd = [os.environ["MEDIACTL_BIN"], "--json", "--mount", settings.MEDIA_ROOT] + list(args)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    try:
        out = json.loads(proc.stdout.decode() or "null")
    except ValueError:
        out = None
    if proc.returncode not in (0, 1) or out is None:
        print("   mediactl %s: exit %d\n%s%s" % (" ".join(args), proc.returncode,
                                                proc.stdout.decode(), proc.stderr.decode()))
    return proc.returncode, out


def scan(label):
    """Run a scan now and wait for it; its JSON result."""
    _, out = mediactl("scan")
    result = (out or {}).get("scan") or {}
    print("   %s (daemon scan %s): %s; %s quarantined, %s restored, %s purged, %s live, "
          "%s referenced" % (label, result.get("id"), result.get("status"),
                             result.get("quarantined"),
             result.get("restored"), result.get("purged"), result.get("live"),
             result.get("referenced")))
    return result


def quarantine_list():
    """{original path: (reason, quarantine name)} of every quarantined file."""
    _, out = mediactl("quarantine")
    return {f["path"]: (f.get("reason"), f.get("quarantine_name"))
            for f in (out or {}).get("files", [])}


def catalog_state(path):
    """The catalog's state of path and the reason of its last audit entry."""
    _, out = mediactl("show", path)
    files = (out or {}).get("files") or [{}]
    audit = (out or {}).get("audit") or [{}]
    return files[-1].get("state"), audit[-1].get("reason")


class Backing:
    """BACKING seen through a descriptor opened before the mount."""

    def __init__(self, fd):
        self.fd = fd

    def exists(self, rel):
        try:
            os.stat(rel, dir_fd=self.fd, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False

    def read(self, rel):
        fd = os.open(rel, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.fd)
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def in_quarantine(self, quarantine_name):
        return ".mediafs/quarantine/" + quarantine_name


# ---------------------------------------------------------------------
# The site before mediafs
# ---------------------------------------------------------------------

def save_state(state):
    with open(os.environ["E2E_STATE"], "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)


def load_state():
    with open(os.environ["E2E_STATE"]) as f:
        return json.load(f)


def prepare():
    """The site as it runs before mediafs: MEDIA_ROOT is a plain directory."""
    call_command("migrate", run_syncdb=True, verbosity=0)
    digests, names = {}, {}

    def put(name, data):
        saved = default_storage.save(name, ContentFile(data))
        digests[saved] = digest(data)
        return saved

    names["default"] = put(DEFAULT_COVER, image_bytes(1, "PNG"))
    assert names["default"] == DEFAULT_COVER
    data = image_bytes(2, "PNG")
    album = Album.objects.create(title="Legacy", cover=ContentFile(data, name="legacy.png"))
    names["legacy.cover"] = album.cover.name
    digests[album.cover.name] = digest(data)
    data = image_bytes(3)
    photo = Photo.objects.create(album=album, tag="legacy",
                                 image=ContentFile(data, name="legacy.jpg"))
    names["legacy.photo"] = photo.image.name
    digests[photo.image.name] = digest(data)
    # The only file of its directory, which no request opens before the
    # row is deleted (restore-in-removed-dir).
    data = b"%PDF-1.4 olga\n"
    att = Attachment.objects.create(owner="Olga", file=ContentFile(data, name="cv.pdf"))
    names["olga"] = att.file.name
    digests[att.file.name] = digest(data)
    # A file whose row went long ago: an orphan that mediafs adopts.
    names["forgotten"] = put("photos/old/forgotten.jpg", image_bytes(4))
    for key, url in (("banner.spring", "/media/banners/spring.png"),
                     ("banner.cdn", "https://cdn.example.com/media/banners/cdn.png"),
                     ("banner.old", "/media/banners/old.png")):
        rel = strip(url)
        names[key] = put(rel, image_bytes(5 + len(names), "PNG"))
        Banner.objects.create(url=url)
    save_state({"digests": digests, "names": names})
    rows = sum(m.objects.count() for m in (Album, Photo, Attachment, Avatar, Banner))
    print("prepared: %d files, %d rows in MEDIA_ROOT %s"
          % (len(digests), rows, settings.MEDIA_ROOT))
    return True


def strip(value):
    for prefix in STRIP_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


# ---------------------------------------------------------------------
# The run on the mount
# ---------------------------------------------------------------------

class Run:
    def __init__(self):
        state = load_state()
        self.digests = state["digests"]
        self.names = state["names"]
        self.report = Report()
        self.backing = Backing(int(os.environ["E2E_BACKING_FD"]))
        self.min_age = float(os.environ["E2E_MIN_AGE_S"])
        self.grace = float(os.environ["E2E_GRACE_S"])
        self.temp_max_age = float(os.environ["E2E_TEMP_MAX_AGE_S"])
        self.expect_q = {}      # path -> (reason, scenario): what must be quarantined
        self.seed = 20

    # -- helpers ------------------------------------------------------

    def content(self, fmt="JPEG"):
        self.seed += 1
        return image_bytes(self.seed, fmt)

    def upload(self, filename, fmt="JPEG"):
        data = self.content(fmt)
        kind = "image/jpeg" if fmt == "JPEG" else "image/png"
        return SimpleUploadedFile(filename, data, content_type=kind), digest(data)

    def remember(self, key, fieldfile, sha):
        self.names[key] = fieldfile.name
        self.digests[fieldfile.name] = sha
        return fieldfile.name

    def check(self, cond, what, detail="", scenario=None, known_bug=None):
        return self.report.check(cond, what, detail, scenario, known_bug)

    def expect_quarantined(self, key, reason="unreferenced"):
        """The file remembered as key must be in the quarantine from now on."""
        self.expect_q[self.names[key]] = (reason, self.report.scenario)

    @staticmethod
    def wait_until(deadline):
        """Sleep until time.monotonic() passes deadline plus a margin."""
        delay = deadline + MARGIN_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def referenced(self):
        """Every path the database references now, through the ORM."""
        paths = set()
        for model, fields in ((Album, ["cover"]), (Photo, ["image", "thumbnail"]),
                              (PressPhoto, ["credit"]), (Attachment, ["file"]),
                              (Avatar, ["image"])):
            for obj in model.objects.all():
                for name in fields:
                    if getattr(obj, name).name:
                        paths.add(getattr(obj, name).name)
        paths.update(strip(b.url) for b in Banner.objects.all())
        return paths

    def check_served(self, paths, what):
        """Each path opens through Django's storage with its original bytes."""
        bad = []
        for path in sorted(paths):
            try:
                with default_storage.open(path, "rb") as f:
                    data = f.read()
                if digest(data) != self.digests.get(path):
                    bad.append("%s (content differs)" % path)
            except OSError as e:
                bad.append("%s (%s)" % (path, e.strerror or e))
        self.check(not bad, "%s: %d files served intact through Django's storage"
                   % (what, len(paths)), ", ".join(bad))

    def quarantined_intact(self, path, reason, actual):
        """Why path is not properly quarantined, or None when it is."""
        if path not in actual:
            return "not in the quarantine" + (" (still in place)"
                                              if self.backing.exists(path) else "")
        if actual[path][0] != reason:
            return "reason %s" % actual[path][0]
        if self.backing.exists(path):
            return "also still in place"
        try:
            data = self.backing.read(self.backing.in_quarantine(actual[path][1]))
        except OSError as e:
            return "quarantined copy unreadable: %s" % e.strerror
        return None if digest(data) == self.digests.get(path) else "content differs"

    def check_quarantine(self, what):
        """Each expected file is quarantined with its reason and bytes; no other is."""
        actual = quarantine_list()
        for path, (reason, scenario) in sorted(self.expect_q.items()):
            why = self.quarantined_intact(path, reason, actual)
            self.check(why is None, "%s: %s quarantined (%s), bytes intact"
                       % (what, path, reason), why, scenario)
        extra = sorted(set(actual) - set(self.expect_q))
        self.check(not extra, "%s: no other file is in the quarantine (%d in all)"
                   % (what, len(actual)), extra)

    def check_scan(self, result, what, **expected):
        self.check(result.get("status") == "done", "%s: the scan is done" % what,
                   "%s: %s" % (result.get("status"), result.get("message")))
        for key, value in expected.items():
            self.check(result.get(key) == value, "%s: %s %s" % (what, value, key),
                       "got %s" % result.get(key))

    # -- phase B: uploads through the mount ---------------------------

    def uploads(self):
        r = self.report
        r.begin("uploads", "Model.save() with SimpleUploadedFile, ContentFile, "
                "a temporary file, upload_to callables")
        up, sha = self.upload("sunset.jpg")
        photo = Photo.objects.create(tag="sunset", image=up)
        self.remember("sunset", photo.image, sha)
        self.check(photo.width == 48 and photo.height == 32,
                   "ImageField dimensions read back through the mount",
                   (photo.width, photo.height))
        data = self.content()
        photo = Photo(tag="thumb", image=ContentFile(data, name="with-thumb.jpg"))
        small = self.content("PNG")
        photo.thumbnail.save("with-thumb-small.png", ContentFile(small), save=False)
        photo.save()
        self.remember("thumb.image", photo.image, digest(data))
        self.remember("thumb.small", photo.thumbnail, digest(small))
        self.check(photo.thumbnail.name == "thumbs/with-thumb-small.png",
                   "a second ImageField on the same row", photo.thumbnail.name)
        for key, tag, filename in (("replace.old", "replace", "replace-me.jpg"),
                                   ("deleted", "delete", "deleted.jpg"),
                                   ("bulk-1", "bulk", "bulk-1.jpg"),
                                   ("bulk-2", "bulk", "bulk-2.jpg"),
                                   ("update-1", "update", "update-1.jpg"),
                                   ("update-2", "update", "update-2.jpg"),
                                   ("shared", "shared-a", "shared.jpg")):
            up, sha = self.upload(filename)
            self.remember(key, Photo.objects.create(tag=tag, image=up).image, sha)
        Photo.objects.create(tag="shared-b", image=self.names["shared"])
        up, sha = self.upload("press.jpg")
        credit = b"photo: agency e2e\n"
        press = PressPhoto(tag="bulk", agency="e2e", image=up,
                           credit=ContentFile(credit, name="press-credit.txt"))
        press.save()
        self.remember("press", press.image, sha)
        self.remember("press.credit", press.credit, digest(credit))
        self.check(press.credit.name.startswith("credits/"),
                   "a multi-table child keeps its own FileField", press.credit.name)

        album = Album.objects.create(title="No cover")
        self.check(album.cover.name == DEFAULT_COVER, "a row without an upload takes the "
                   "default file", album.cover.name)
        data = self.content("PNG")
        album = Album.objects.create(title="Summer 2024",
                                     cover=ContentFile(data, name="cover.png"))
        self.remember("album.cover", album.cover, digest(data))
        self.check(album.cover.name == "albums/summer-2024/cover.png",
                   "upload_to callable places the cover", album.cover.name)

        pdf = b"%PDF-1.4 raw\n"
        att = Attachment.objects.create(owner="Bob", file=ContentFile(pdf, name="raw.pdf"))
        self.remember("raw", att.file, digest(pdf))
        # A large upload goes through a temporary file outside the mount,
        # then is copied in (os.rename fails with EXDEV).
        big = os.urandom(BIG_UPLOAD_BYTES)
        tmp = TemporaryUploadedFile("big.bin", "application/octet-stream", len(big), None)
        tmp.write(big)
        tmp.seek(0)
        att = Attachment(owner="Ann")
        att.file = tmp
        att.save()
        tmp.close()
        self.remember("big", att.file, digest(big))

        for user in ("carol", "dave", "erin", "fred"):
            up, sha = self.upload(user + "-1.png", "PNG")
            self.remember("avatar." + user, Avatar.objects.create(user=user, image=up).image,
                          sha)
        Avatar.objects.create(user="gina", image=self.names["avatar.fred"])

    def same_name_twice(self):
        self.report.begin("same-name-twice", "one name uploaded twice: Django "
                          "de-duplicates through exists()")
        first = b"%PDF-1.4 first\n"
        second = b"%PDF-1.4 second\n"
        a = Attachment.objects.create(owner="Ann", file=ContentFile(first, name="report.pdf"))
        b = Attachment.objects.create(owner="Ann", file=ContentFile(second, name="report.pdf"))
        self.remember("report-1", a.file, digest(first))
        self.remember("report-2", b.file, digest(second))
        self.check(a.file.name == "attachments/ann/report.pdf" and b.file.name != a.file.name
                   and b.file.name.startswith("attachments/ann/report_"),
                   "the second upload got a new name", (a.file.name, b.file.name))
        self.check(digest(self.backing.read(a.file.name)) == digest(first) and
                   digest(self.backing.read(b.file.name)) == digest(second),
                   "neither overwrote the other in BACKING")
        self.uploaded_at = time.monotonic()

    # -- phase C: what the application does next ----------------------

    def in_flight(self):
        self.report.begin("upload-in-flight", "a scan while the upload's transaction "
                          "is open (younger than min_age)")
        with transaction.atomic():
            up, sha = self.upload("in-flight.jpg")
            photo = Photo.objects.create(tag="in-flight", image=up)
            name = self.remember("in-flight", photo.image, sha)
            result = scan("scan 1")
            self.check(self.backing.exists(name),
                       "the uncommitted upload is still in place after the scan")
        self.check_scan(result, "scan 1", quarantined=1)
        self.report.begin("adopted-orphan", "a file left unreferenced before mediafs "
                          "was mounted")
        self.expect_quarantined("forgotten")
        self.check_quarantine("after scan 1")

    def mutations(self):
        r = self.report
        n = self.names

        r.begin("replace", "FieldFile.save() replaces a row's file")
        photo = Photo.objects.get(tag="replace")
        data = self.content()
        photo.image.save("replaced.jpg", ContentFile(data))
        self.remember("replace.new", photo.image, digest(data))
        self.expect_quarantined("replace.old")
        self.check(self.backing.exists(n["replace.old"]),
                   "Django left the old file on disk", n["replace.old"])

        r.begin("delete", "Model.delete()")
        Photo.objects.get(tag="delete").delete()
        self.expect_quarantined("deleted")

        r.begin("queryset-delete", "QuerySet.delete() over a parent and a multi-table child")
        deleted, per_model = Photo.objects.filter(tag="bulk").delete()
        self.check(per_model.get("gallery.PressPhoto") == 1 and
                   per_model.get("gallery.Photo") == 3, "three photos, one a PressPhoto",
                   per_model)
        for key in ("bulk-1", "bulk-2", "press", "press.credit"):
            self.expect_quarantined(key)

        r.begin("queryset-update", "QuerySet.update() points two rows at another file")
        updated = Photo.objects.filter(tag="update").update(image=n["sunset"])
        self.check(updated == 2, "two rows updated", updated)
        for key in ("update-1", "update-2"):
            self.expect_quarantined(key)

        r.begin("raw-sql-delete", "DELETE through connection.cursor()")
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM legacy_attachment WHERE owner = %s", ["Bob"])
            self.check(cursor.rowcount == 1, "one row deleted", cursor.rowcount)
        self.expect_quarantined("raw")

        r.begin("rollback", "a transaction saves a file, then rolls back")
        try:
            with transaction.atomic():
                up, sha = self.upload("rolled-back.jpg")
                photo = Photo.objects.create(tag="rolled-back", image=up)
                self.remember("rolled-back", photo.image, sha)
                raise Rollback()
        except Rollback:
            pass
        self.check(not Photo.objects.filter(tag="rolled-back").exists() and
                   self.backing.exists(n["rolled-back"]),
                   "no row, and the file is on disk")
        self.expect_quarantined("rolled-back")

        r.begin("restore-in-removed-dir", "the row of the only file in a directory "
                "is deleted")
        Attachment.objects.filter(owner="Olga").delete()
        self.expect_quarantined("olga")

        r.begin("shared-file", "two rows share one file; the first is deleted")
        Photo.objects.get(tag="shared-a").delete()

        r.begin("default-file", "the last row using the default file is deleted")
        Album.objects.filter(title="No cover").delete()
        self.check(not Album.objects.filter(cover=DEFAULT_COVER).exists(),
                   "no row references the default file any more")

        r.begin("strip-prefix", "a MEDIA_URL-style CharField row is deleted")
        Banner.objects.filter(url="/media/banners/old.png").delete()
        self.expect_quarantined("banner.old")

        self.cleanup_signals()
        self.mutated_at = time.monotonic()

    def cleanup_signals(self):
        r = self.report
        n = self.names
        r.begin("cleanup-replace", "a pre_save handler deletes the replaced file "
                "(storage.delete through the mount)")
        carol = Avatar.objects.get(user="carol")
        data = self.content("PNG")
        carol.image.save("carol-2.png", ContentFile(data))
        self.remember("avatar.carol.new", carol.image, digest(data))
        self.check(not self.backing.exists(n["avatar.carol"]),
                   "the application deleted the old file")
        self.expect_quarantined("avatar.carol", "unlinked")

        r.begin("cleanup-delete", "a post_delete handler deletes the row's file")
        Avatar.objects.get(user="dave").delete()
        self.check(not self.backing.exists(n["avatar.dave"]), "the application deleted it")
        self.expect_quarantined("avatar.dave", "unlinked")

        r.begin("cleanup-rollback", "the handler deletes the old file, then the "
                "transaction rolls back: the row still names it")
        erin = Avatar.objects.get(user="erin")
        try:
            with transaction.atomic():
                data = self.content("PNG")
                erin.image.save("erin-2.png", ContentFile(data))
                self.remember("avatar.erin.new", erin.image, digest(data))
                raise Rollback()
        except Rollback:
            pass
        erin.refresh_from_db()
        self.check(erin.image.name == n["avatar.erin"], "the row names the old file again",
                   erin.image.name)
        self.check(not self.backing.exists(n["avatar.erin"]),
                   "the old file was deleted by the handler (it is in the quarantine)")
        self.check(quarantine_list().get(n["avatar.erin"], ("",))[0] == "unlinked",
                   "mediafs kept it as 'unlinked'")
        # The next scan finds it referenced and brings it back; the new
        # upload of the rolled-back transaction is an orphan.
        self.expect_quarantined("avatar.erin.new")

        r.begin("cleanup-young-rollback", "the same, for a file younger than "
                "temp_max_age: by design it is deleted for good")
        up, sha = self.upload("hank-1.png", "PNG")
        hank = Avatar.objects.create(user="hank", image=up)
        old = self.remember("avatar.hank", hank.image, sha)
        try:
            with transaction.atomic():
                data = self.content("PNG")
                hank.image.save("hank-2.png", ContentFile(data))
                self.remember("avatar.hank.new", hank.image, digest(data))
                raise Rollback()
        except Rollback:
            pass
        self.expect_quarantined("avatar.hank.new")
        self.check(not self.backing.exists(old) and old not in quarantine_list(),
                   "the file the row still names is neither in place nor in the "
                   "quarantine (use temp_max_age = 0s when the application deletes "
                   "files itself)")
        # The application notices the broken row and drops it.
        Avatar.objects.filter(user="hank").delete()

    def slow_transaction(self):
        r = self.report
        n = self.names
        r.begin("slow-transaction", "a transaction stays open longer than min_age "
                "after its upload")
        with transaction.atomic():
            up, sha = self.upload("slow.jpg")
            slow = Photo.objects.create(tag="slow", image=up)
            name = self.remember("slow", slow.image, sha)
            self.wait_until(time.monotonic() + self.min_age)
            result = scan("scan 2")
            self.check(not self.backing.exists(name),
                       "the uncommitted upload older than min_age is quarantined "
                       "(min_age must exceed the longest transaction)")
        self.scan2_at = time.monotonic()
        self.expect_quarantined("slow")
        erin_restored = self.backing.exists(n["avatar.erin"])

        r.begin("scan-2", "after the mutations")
        self.check_scan(result, "scan 2", quarantined=15, restored=1)
        self.check(erin_restored, "the deleted file that the row still names is back "
                   "in place", scenario="cleanup-rollback")
        self.check(catalog_state(n["avatar.erin"]) == ("live", "referenced-again"),
                   "restored because it is referenced again",
                   catalog_state(n["avatar.erin"]), "cleanup-rollback")
        self.check(self.backing.exists(n["shared"]), "one row left is enough to keep it",
                   scenario="shared-file")
        self.check(self.backing.exists(DEFAULT_COVER), "kept unreferenced by "
                   "exclude = defaults/*", scenario="default-file")
        self.check(self.backing.exists(n["in-flight"]), "committed in time, kept",
                   scenario="upload-in-flight")
        for key in ("replace.new", "sunset", "avatar.carol.new"):
            self.check(self.backing.exists(n[key]), "%s kept" % n[key],
                       scenario={"replace.new": "replace", "sunset": "queryset-update",
                                 "avatar.carol.new": "cleanup-replace"}[key])
        self.check_quarantine("after scan 2")

        olga_by_access = self.row_back_from_backup()

        r.begin("slow-transaction", "after the commit")
        result = scan("scan 3")
        del self.expect_q[name]
        self.check_scan(result, "scan 3", quarantined=0, restored=1 if olga_by_access else 2)
        self.check(self.backing.exists(name) and
                   catalog_state(name) == ("live", "referenced-again"),
                   "the committed upload came back by the next scan", catalog_state(name))
        self.row_back_after_scan(olga_by_access)

    def row_back_from_backup(self):
        """The Olga row comes back (a restored backup) and a request opens its
        file, which scan 2 quarantined; True if that restored it."""
        n = self.names
        self.report.begin("restore-in-removed-dir", "the row comes back and Django "
                          "opens its quarantined file")
        name = n["olga"]
        self.check(not self.backing.exists(os.path.dirname(name)),
                   "scan 2 removed the directory that it emptied")
        Attachment.objects.create(owner="Olga", file=name)
        try:
            with default_storage.open(name, "rb") as f:
                by_access = digest(f.read()) == self.digests[name]
        except OSError as e:
            print("         open: %s" % e)
            by_access = False
        self.check(by_access, "restored on access, bytes intact")
        if by_access:
            del self.expect_q[name]
        return by_access

    def row_back_after_scan(self, by_access):
        """Scan 3 finds the Olga row: its file is back in BACKING at the latest
        now, and Django serves it."""
        n = self.names
        name = n["olga"]
        self.report.begin("restore-in-removed-dir", "after scan 3")
        self.expect_q.pop(name, None)
        self.check(self.backing.exists(name) and catalog_state(name)[0] == "live",
                   "the file is back in BACKING", catalog_state(name))
        try:
            with default_storage.open(name, "rb") as f:
                served = digest(f.read()) == self.digests[name]
        except OSError as e:
            print("         open: %s" % e)
            served = False
        self.check(served, "Django serves it right after the scan")
        self.olga_restored_at = time.monotonic()

    def row_back_eventually(self):
        """Served at the latest when the kernel's negative entry expires."""
        name = self.names["olga"]
        self.report.begin("restore-in-removed-dir", "later")
        deadline = self.olga_restored_at + NEGATIVE_TIMEOUT_S + MARGIN_S
        while True:
            try:
                with default_storage.open(name, "rb") as f:
                    served = digest(f.read()) == self.digests[name]
                break
            except FileNotFoundError:
                if time.monotonic() > deadline:
                    served = False
                    break
                time.sleep(0.1)
        self.check(served, "Django serves it within negative_timeout (%d s) of the scan "
                   "(after %.1f s)" % (NEGATIVE_TIMEOUT_S,
                                      time.monotonic() - self.olga_restored_at))

    # -- phase D: restores --------------------------------------------

    def served_after_scans(self):
        self.report.begin("served", "every referenced file, through Django")
        self.check_quarantine("after scan 3")
        # The Olga file has its own checks (restore-in-removed-dir).
        paths = self.referenced() - {self.names["olga"]}
        self.check_served(paths | {DEFAULT_COVER}, "after scan 3")

    def restore_by_access(self):
        """What the application deleted comes back by a scan that finds it
        referenced, never by a request (promise 9)."""
        r = self.report
        n = self.names
        name = n["avatar.fred"]
        r.begin("cleanup-shared", "a post_delete handler deletes a file that another "
                "row shares; the other row's page opens it")
        _, before = mediactl("status")
        Avatar.objects.get(user="fred").delete()
        self.check(not self.backing.exists(name), "the handler deleted the shared file")
        gina = Avatar.objects.get(user="gina")
        try:
            with gina.image.open("rb") as f:
                f.read()
            opened = True
        except OSError:
            opened = False
        self.check(not opened, "a request does not bring back what the application deleted")
        result = scan("after the shared file was deleted")
        self.check((result.get("restored") or 0) >= 1,
                   "the next scan finds it referenced and restores it", result)
        self.check(self.backing.exists(name), "it is back in BACKING")
        deadline = time.monotonic() + NEGATIVE_TIMEOUT_S + MARGIN_S
        while True:
            try:
                with gina.image.open("rb") as f:
                    data = f.read()
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    data = str(e).encode()
                    break
                time.sleep(0.1)
        self.check(digest(data) == self.digests[name], "Django opens it, bytes intact")
        _, after = mediactl("status")
        self.check((after or {}).get("restores_by_access", 0) ==
                   (before or {}).get("restores_by_access", 0),
                   "no restore by access")

    def restore_by_mediactl(self):
        n = self.names
        self.report.begin("mediactl-restore", "an admin restores a quarantined file "
                          "and the application uses it again")
        name = n["deleted"]
        status, _ = mediactl("restore", name)
        self.check(status == 0, "mediactl restore exits 0", status)
        self.check(self.backing.exists(name), "the file is back in BACKING")
        del self.expect_q[name]
        photo = Photo.objects.create(tag="restored", image=name)
        try:
            with default_storage.open(photo.image.name, "rb") as f:
                data = f.read()
        except OSError as e:
            data = str(e).encode()
        self.check(digest(data) == self.digests[name], "Django serves it again, intact")
        self.check(photo.width == 48, "and reads its dimensions", photo.width)

    def reupload_quarantined_name(self):
        n = self.names
        self.report.begin("reupload-name", "an upload under the name of a quarantined "
                          "file: exists() restores it, the upload gets a new name")
        old = n["replace.old"]
        up, sha = self.upload("replace-me.jpg")
        photo = Photo.objects.create(tag="reupload", image=up)
        new = self.remember("reupload", photo.image, sha)
        del self.expect_q[old]
        self.reuploaded_at = time.monotonic()
        self.check(new != old and os.path.dirname(new) == os.path.dirname(old),
                   "the new upload did not take the old name", (old, new))
        self.check(self.backing.exists(old) and
                   digest(self.backing.read(old)) == self.digests[old],
                   "the quarantined file is back, unchanged")
        self.check(digest(self.backing.read(new)) == sha, "the new upload is intact")

    def last_sharer(self):
        self.report.begin("shared-file", "the second row sharing the file is deleted")
        Photo.objects.get(tag="shared-b").delete()

    # -- phase E: purge -----------------------------------------------

    def purge(self):
        self.report.begin("purge", "after grace, every orphan still in the quarantine "
                          "is deleted for good")
        purged = dict(self.expect_q)
        self.wait_until(max(self.scan2_at + self.grace, self.reuploaded_at + self.min_age))
        result = scan("scan 4")
        self.check_scan(result, "scan 4", purged=len(purged), quarantined=2, restored=0)
        for path, (_, scenario) in sorted(purged.items()):
            state = catalog_state(path)[0]
            self.check(state == "purged" and not self.backing.exists(path),
                       "%s purged after grace" % path, state, scenario)
        self.expect_q = {}
        self.report.begin("reupload-name", "after grace")
        self.expect_quarantined("replace.old")
        self.report.begin("shared-file", "after grace")
        self.expect_quarantined("shared")
        self.report.begin("purge", "after grace")
        self.check_quarantine("after scan 4")
        self.check(self.backing.exists(DEFAULT_COVER), "still kept", scenario="default-file")
        self.row_back_eventually()
        self.report.begin("purge", "after grace")
        self.check_served(self.referenced() | {DEFAULT_COVER}, "after the purge")
        status, out = mediactl("check")
        out = out or {}
        self.check(status == 0 and out.get("missing_count") == 0 and
                   out.get("untracked_count") == 0 and out.get("dangling_count") == 0,
                   "mediactl check: no missing, untracked or dangling file",
                   {k: out.get(k) for k in ("missing_count", "untracked_count",
                                            "dangling_count")})

    def run(self):
        self.uploads()
        self.same_name_twice()
        self.report.note("waiting until the uploads are older than min_age")
        self.wait_until(self.uploaded_at + max(self.min_age, self.temp_max_age))
        self.in_flight()
        self.mutations()
        self.slow_transaction()
        self.served_after_scans()
        self.restore_by_access()
        self.restore_by_mediactl()
        self.reupload_quarantined_name()
        self.last_sharer()
        self.purge()
        return self.report.summary()


def main(argv):
    if len(argv) != 2 or argv[1] not in ("prepare", "run"):
        print("usage: scenarios.py prepare|run", file=sys.stderr)
        return 2
    ok = prepare() if argv[1] == "prepare" else Run().run()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
