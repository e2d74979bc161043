# A record with one attached file and a list of attached pages.
class Document < ActiveRecord::Base
  has_one_attached :file
  has_many_attached :pages
end
