"""Gallery of known faces: durable SQLite store, open-set 1:N identification."""

from facescope.gallery.gallery import DEFAULT_GALLERY, EnrollResult, Gallery
from facescope.gallery.store import SubjectInfo

__all__ = ["DEFAULT_GALLERY", "EnrollResult", "Gallery", "SubjectInfo"]
