"""Errors a user can cause, each with its own process exit code (listed in the README)."""


class FaceReconError(Exception):
    """Base class: a problem with the input or environment that the user can fix."""

    exit_code = 1


class InputNotFoundError(FaceReconError):
    exit_code = 3


class NotAFileError(FaceReconError):
    """A directory, device or unreadable path where an image file was expected."""

    exit_code = 4


class UnreadableImageError(FaceReconError):
    """Empty, truncated or garbage data, or a format that is not an image."""

    exit_code = 5


class ImageTooLargeError(FaceReconError):
    """More pixels than we decode (a decompression bomb, or simply too big)."""

    exit_code = 6


class ImageTooSmallError(FaceReconError):
    exit_code = 7


class NoFaceError(FaceReconError):
    exit_code = 8


class OutputError(FaceReconError):
    """The output folder cannot be created or written."""

    exit_code = 9


class ModelAssetError(FaceReconError):
    """The shipped face model file is missing or corrupt."""

    exit_code = 10


class MissingExtraError(FaceReconError):
    """An optional dependency (pip install 'facerecon[video|ray|web]') is not installed."""

    exit_code = 12
