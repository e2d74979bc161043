# usage: ruby storage.rb prepare|act|check
#
# The Active Storage scenario of run-rails.sh, run by plain Ruby with the
# application in config/ loaded (as `rails runner` would):
#
#   prepare  the tables: documents, and Active Storage's own migration
#   act      through Active Storage, with the Disk service on the mount:
#            attach (one file, several pages, a blob with no record), purge,
#            destroy a record (its attachments purged by dependent:
#            :purge_later, inline), replace a file, detach (the blob and
#            its file stay: Active Storage leaves unattached blobs to the
#            application), purge an unattached blob the way the guides do;
#            then rows deleted behind Active Storage's back and a blob
#            uploaded in a transaction that rolls back, leaving orphan
#            files.  Writes each key's role to E2E_STATE.
#   check    after a scan: every file an active_storage_blobs row names
#            is in BACKING, intact (the blob's MD5 checksum) and read back
#            through Active Storage; the files Active Storage deleted are
#            in the quarantine as 'unlinked', the orphans as
#            'unreferenced'; no other file is left in BACKING.
#
# Environment: that of config/application.rb, and E2E_STATE (a JSON file),
# E2E_BACKING (BACKING as seen beneath the mount, /proc/PID/fd/N),
# E2E_STORAGE_ROOT (the mount), MEDIACTL_BIN, MEDIAFS_RUNTIME_DIR.  Exits 0
# when every check passed, 1 otherwise, printing one line per check.
require "digest/md5"
require "find"
require "json"
require "open3"
require "stringio"
require_relative "config/environment"

$failed = 0

def check(ok, what)
  puts((ok ? "ok: " : "FAIL: ") + what)
  $failed += 1 unless ok
end

# Where the Disk service keeps a blob, relative to its root.
def path_of(key)
  "#{key[0..1]}/#{key[2..3]}/#{key}"
end

def upload(name, seed)
  { io: StringIO.new("#{name} #{seed} " + ("%08d" % seed) * (64 * seed)),
    filename: name, content_type: "application/octet-stream" }
end

def mediactl(*args)
  out, status = Open3.capture2(ENV.fetch("MEDIACTL_BIN"), "--json", "--mount",
                               ENV.fetch("E2E_STORAGE_ROOT"), *args)
  [status.exitstatus, status.success? ? JSON.parse(out) : {}]
end

def act
  roles = Hash.new { |h, k| h[k] = [] }

  kept = Document.create!(title: "kept")
  kept.file.attach(upload("kept.bin", 1))
  roles["kept"] << kept.file.blob.key
  paged = Document.create!(title: "paged")
  paged.pages.attach([upload("p1.bin", 2), upload("p2.bin", 3), upload("p3.bin", 4)])
  roles["kept"].concat(paged.pages.blobs.pluck(:key))
  roles["kept"] << ActiveStorage::Blob.create_and_upload!(**upload("loose.bin", 5)).key

  purged = Document.create!(title: "purged")
  purged.file.attach(upload("purged.bin", 6))
  roles["deleted"] << purged.file.blob.key
  purged.file.purge

  destroyed = Document.create!(title: "destroyed")
  destroyed.file.attach(upload("destroyed.bin", 7))
  destroyed.pages.attach([upload("d1.bin", 8), upload("d2.bin", 9)])
  roles["deleted"] << destroyed.file.blob.key
  roles["deleted"].concat(destroyed.pages.blobs.pluck(:key))
  destroyed.destroy!

  replaced = Document.create!(title: "replaced")
  replaced.file.attach(upload("old.bin", 10))
  old_key = replaced.file.blob.key
  replaced.file.attach(upload("new.bin", 11))
  roles["kept"] << replaced.reload.file.blob.key
  # Rails 6.1 purges the blob a has_one_attached replaces; say what it did.
  roles[ActiveStorage::Blob.exists?(key: old_key) ? "kept" : "deleted"] << old_key

  detached = Document.create!(title: "detached")
  detached.file.attach(upload("detached.bin", 12))
  roles["kept"] << detached.file.blob.key
  detached.file.detach
  swept = Document.create!(title: "swept")
  swept.file.attach(upload("swept.bin", 13))
  swept_key = swept.file.blob.key
  swept.file.detach
  ActiveStorage::Blob.unattached.where(key: swept_key).find_each(&:purge)
  roles["deleted"] << swept_key

  # Behind Active Storage's back: rows gone, files left.
  raw = Document.create!(title: "raw-sql")
  raw.file.attach(upload("raw.bin", 14))
  blob_id = raw.file.blob.id
  roles["orphan"] << raw.file.blob.key
  conn = ActiveRecord::Base.connection
  conn.execute("DELETE FROM active_storage_attachments WHERE blob_id = #{Integer(blob_id)}")
  conn.execute("DELETE FROM active_storage_blobs WHERE id = #{Integer(blob_id)}")
  bulk = Document.create!(title: "delete_all")
  bulk.pages.attach([upload("b1.bin", 15), upload("b2.bin", 16)])
  ids = bulk.pages.blobs.pluck(:id)
  roles["orphan"].concat(bulk.pages.blobs.pluck(:key))
  ActiveStorage::Attachment.where(blob_id: ids).delete_all
  ActiveStorage::Blob.where(id: ids).delete_all
  bulk.delete
  # A blob uploaded in a transaction that rolls back: its file is written
  # at once, its row never commits.
  ActiveRecord::Base.transaction do
    roles["orphan"] << ActiveStorage::Blob.create_and_upload!(**upload("rolled-back.bin", 17)).key
    raise ActiveRecord::Rollback
  end

  roles.each { |role, keys| puts "   #{role}: #{keys.size} blobs" }
  File.write(ENV.fetch("E2E_STATE"), JSON.pretty_generate(roles))
end

def verify
  roles = JSON.parse(File.read(ENV.fetch("E2E_STATE")))
  backing = ENV.fetch("E2E_BACKING")
  status, out = mediactl("quarantine")
  check(status == 0, "mediactl quarantine exits 0")
  quarantined = (out["files"] || []).to_h { |f| [f["path"], f["reason"]] }

  blobs = ActiveStorage::Blob.all.to_a
  named = blobs.map { |b| path_of(b.key) }
  check(blobs.map(&:key).sort == roles["kept"].sort,
        "the blob rows are the #{roles["kept"].size} kept ones (attached, detached, " \
        "with no record), #{blobs.size} in all")
  bad = blobs.reject do |b|
    file = File.join(backing, path_of(b.key))
    File.file?(file) && !quarantined.key?(path_of(b.key)) &&
      Digest::MD5.base64digest(File.binread(file)) == b.checksum &&
      b.download == File.binread(file)
  end
  check(bad.empty?, "every file a blob row names stays, intact, and Active Storage " \
        "reads it through the mount" + (bad.empty? ? "" : ": not " + bad.map(&:key).join(", ")))

  { "deleted" => "unlinked", "orphan" => "unreferenced" }.each do |role, reason|
    keys = roles[role] || []
    left = keys.reject do |key|
      !File.exist?(File.join(backing, path_of(key))) && quarantined[path_of(key)] == reason
    end
    check(keys.size >= 3 && left.empty?,
          "the #{keys.size} #{role} blobs' files are quarantined as #{reason}" +
          (left.empty? ? "" : ": not " + left.map { |k| "#{k} (#{quarantined[path_of(k)] || 'in place'})" }.join(", ")))
  end

  stray = []
  Find.find(backing) do |path|
    rel = path.delete_prefix(backing + "/")
    Find.prune if rel == ".mediafs"
    stray << rel if File.file?(path) && !named.include?(rel)
  end
  check(stray.empty?, "no file that no blob row names is left in BACKING" +
        (stray.empty? ? "" : ": " + stray.join(", ")))
end

case ARGV[0]
when "prepare"
  ActiveRecord::Migration.verbose = false
  ActiveRecord::Schema.define do
    create_table(:documents) { |t| t.string :title, null: false }
  end
  require ActiveStorage::Engine.root.join("db/migrate/20170806125915_create_active_storage_tables.rb").to_s
  CreateActiveStorageTables.new.migrate(:up)
  puts "Rails #{Rails.version}, Ruby #{RUBY_VERSION}, SQLite #{SQLite3::SQLITE_VERSION}"
when "act"
  act
when "check"
  verify
else
  warn "usage: ruby storage.rb prepare|act|check"
  exit 2
end
exit($failed.zero? ? 0 : 1)
