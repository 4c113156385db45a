"""Discovery: the landing folder's stable files, their content hash, and their source."""

from tidegate.discover.landing import LandingFile, scan
from tidegate.discover.routing import route

__all__ = ["LandingFile", "route", "scan"]
