"""File operations for load scripts, locked to approved folders (see docs/file-operations.md)."""

from qbutler.files.sandbox import FileOperationError, Sandbox

__all__ = ["FileOperationError", "Sandbox"]
