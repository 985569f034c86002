"""``siamese-edge gallery sync|status|list|add|remove``."""

from __future__ import annotations


def add_gallery_commands(sub) -> None:
    from gallery.commands import register

    register(sub)
