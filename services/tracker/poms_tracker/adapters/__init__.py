"""Database access and batch pollers of the tracker."""
