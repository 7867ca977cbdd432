"""Before any compute at a launched profile: a track's checks name every missing piece (data,
a checkpoint) at once, each with how to provide it, and stop within seconds (a cluster node
without internet access should not fail after a download times out). The checks themselves
are the track's (the ViT's: vision/paper/preflight.py)."""

from __future__ import annotations


class SetupMissing(FileNotFoundError):
    """A launched profile's data or checkpoint is not on this machine."""


def check(problems: list[str], needs: str) -> None:
    """Raise SetupMissing with `needs` (what the profile needs) and one paragraph per problem;
    return when there is none."""
    if problems:
        raise SetupMissing(f"{needs}; missing:\n  - " + "\n  - ".join(problems))
