"""Gallery subcommands (filled in by the gallery issue)."""


def register(sub) -> None:
    return None
