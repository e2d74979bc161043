# The smallest Rails application that stores files with Active Storage:
# Active Record over SQLite, the Disk service rooted at the mediafs mount,
# jobs run inline (so purge_later and analysis happen before a call
# returns).  Everything a run chooses comes from the environment:
#
#   E2E_SQLITE_PATH     the SQLite database file (absolute)
#   E2E_STORAGE_ROOT    the Disk service's root (the mount point)
#
# It writes nothing under this directory: no log, no cache, no tmp.
require "logger"
require "rails"
require "active_record/railtie"
require "active_job/railtie"
require "active_storage/engine"

module E2eRails
  class Application < Rails::Application
    config.load_defaults 6.1
    config.root = File.expand_path("..", __dir__)
    config.eager_load = false
    config.secret_key_base = "e2e-only-not-secret"
    config.logger = Logger.new($stderr)
    config.log_level = :warn
    config.cache_store = :null_store
    config.active_job.queue_adapter = :inline
    config.active_storage.service = :local
  end
end
