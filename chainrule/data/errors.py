"""The error raised for a data file that exists but cannot be read as its format says."""


class DataFileError(ValueError):
    """A corrupt, truncated or malformed dataset file; the message names the file and the problem."""
