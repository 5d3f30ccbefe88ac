"""Downloading official dataset archives with pooch, checksums verified.

pooch streams into a temporary file next to the target and moves it into place
only after the checksum matched, so a failed, cut or tampered download leaves
no file behind. Base URLs can be overridden (for a mirror, or a local test
server): the `url=` argument, then `$CHAINRULE_DATA_URL_<NAME>` (e.g.
CHAINRULE_DATA_URL_FASHION_MNIST), then the module-level `MIRRORS` dict.
"""
from __future__ import annotations

import os
from pathlib import Path

MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar-10": "https://www.cs.toronto.edu/~kriz/",
}


def env_var(name: str) -> str:
    """The environment variable that overrides the base URL of dataset `name`."""
    return "CHAINRULE_DATA_URL_" + name.upper().replace("-", "_")


def base_url(name: str, url: str | None = None) -> str:
    """The base URL to fetch dataset `name` from (ends with '/')."""
    u = url or os.environ.get(env_var(name)) or MIRRORS[name]
    return u if u.endswith("/") else u + "/"


def fetch(name: str, fname: str, md5: str, dest: Path, url: str | None = None) -> Path:
    """Download `fname` of dataset `name` into folder `dest` and check its md5.

    An existing file with the right checksum is not downloaded again. Raises
    OSError naming the URL if the download fails or the checksum does not match;
    in either case nothing is left at `dest / fname`.
    """
    import pooch
    import requests

    full = base_url(name, url) + fname
    target = Path(dest) / fname
    try:
        return Path(pooch.retrieve(full, known_hash="md5:" + md5, fname=fname, path=str(dest),
                                   progressbar=True))
    except (ValueError, requests.exceptions.RequestException, OSError) as e:
        # pooch already deleted its temporary file; a stale target with a bad hash is
        # removed too so the folder never holds an unverified file
        if target.exists():
            from pooch.hashes import hash_matches
            if not hash_matches(str(target), "md5:" + md5):
                target.unlink()
        raise OSError(f"downloading {full} failed: {e}") from e
