"""What may be written where: the one rule for turning untrusted relative paths into files.

Object keys (a tree downloaded from a store) and archive members (a ``.tgz`` artifact) come
from whoever wrote the store, not from the user. :func:`local_path_under` decides whether such a
relative path may be written under a destination directory, and where; every download path
uses it. :class:`Layout` applies the same rule to an archive being extracted, where members
may also be links: it keeps its own map of what it has created and resolves every member
against that map, so nothing on disk (a link the archive made, or one left in the destination)
is ever followed while writing.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Literal

from .errors import StorageError

#: Linux's limits (limits.h); the destination's file system may allow less, never more here
PATH_MAX = 4096
NAME_MAX = 255
#: the kernel gives up after 40 links in one lookup (ELOOP); a longer chain is an attack
MAX_LINK_HOPS = 40

Kind = Literal["dir", "file", "link"]


class UnsafePath(StorageError, ValueError):
    """A relative path (object key, archive member or link) would leave its destination."""

    default_hint = "nothing was written for it; the store or archive holds a hostile name"

    def __init__(self, reason: str, **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(reason, **kwargs)


def split_relative(rel: str, what: str = "path") -> list[str]:
    """``rel`` as its non-empty parts; raises :class:`UnsafePath` for what may not be written.

    Refused: ``..`` anywhere, an absolute path, NUL bytes, a part longer than NAME_MAX. Empty
    and ``.`` parts are dropped (``a//./b`` is ``a/b``), as a file system reads them.
    """
    if "\0" in rel:
        raise UnsafePath(f"{what} {rel!r} contains a NUL byte")
    if rel.startswith("/"):
        raise UnsafePath(f"{what} {rel!r} is an absolute path")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"{what} {rel!r} goes up with '..' (outside the destination)")
    for part in parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise UnsafePath(f"{what} {rel!r} has a name longer than {NAME_MAX} bytes")
    return parts


def local_path_under(dest: str, rel: str, what: str = "object key") -> str:
    """The local path for the relative path ``rel`` written under ``dest``.

    Raises :class:`UnsafePath` when ``rel`` could leave ``dest`` (see :func:`split_relative`)
    or when the result is longer than PATH_MAX.
    """
    parts = split_relative(rel, what)
    path = os.path.join(dest, *parts)
    if len(os.fsencode(path)) >= PATH_MAX:
        raise UnsafePath(f"{what} {rel!r} makes a path longer than PATH_MAX ({PATH_MAX})")
    return path


class Layout:
    """The tree an extraction builds under ``dest``, as the extractor created it.

    :meth:`place` resolves a member's path against this map (following the archive's own
    links here, never on disk) to parts made only of real directories, creating missing ones.
    A part the map does not know, inside a directory that existed before, is looked at once
    with ``lstat``: a link there is refused, never followed.
    """

    def __init__(self, dest: str) -> None:
        self.dest = dest
        self.kinds: dict[tuple[str, ...], Kind] = {(): "dir"}
        self.links: dict[tuple[str, ...], str] = {}
        self._ours: set[tuple[str, ...]] = set()  # directories this extraction made
        self._files: set[tuple[str, ...]] = set()  # regular files it wrote

    def _kind(self, parts: tuple[str, ...]) -> Kind | None:
        kind = self.kinds.get(parts)
        if kind is not None or parts[:-1] in self._ours:
            return kind  # a directory we made holds only what we put there
        try:
            st = os.lstat(os.path.join(self.dest, *parts))
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(f"'{'/'.join(parts)}' is a link already in the destination")
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
        self.kinds[parts] = kind
        return kind

    def resolve(
        self, parts: list[str], follow_last: bool, what: str, floor: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        """Follow ``parts`` through the map's links; the real parts it lands on. Going above
        ``floor`` (a directory that becomes the root once merged away) is leaving."""
        todo = list(reversed(parts))
        where: list[str] = []
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if len(where) <= len(floor):
                    where_to = "the artifact" if floor else "the destination"
                    raise UnsafePath(f"{what} leads outside {where_to}")
                where.pop()
                continue
            here = (*where, part)
            if self._kind(here) == "link" and (todo or follow_last):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise UnsafePath(f"{what} goes through more than {MAX_LINK_HOPS} links")
                target = self.links[here]
                todo.extend(reversed(target.split("/")))
                continue
            where.append(part)
        out = tuple(where)
        if len(os.fsencode(os.path.join(self.dest, *out))) >= PATH_MAX:
            raise UnsafePath(f"{what} resolves to a path longer than PATH_MAX ({PATH_MAX})")
        return out

    def place(self, name: str, kind: Kind, what: str) -> str:
        """Where the member ``name`` of ``kind`` is written: its parent resolved and created,
        its own name new (only a directory may be repeated). Returns the path on disk."""
        return os.path.join(self.dest, *self._place(name, kind, what))

    def _place(self, name: str, kind: Kind, what: str) -> tuple[str, ...]:
        parts = split_relative(name, what)
        if not parts:
            if kind == "dir":
                return ()
            raise UnsafePath(f"{what} has no name")
        parent = self.resolve(parts[:-1], True, what)
        for i in range(1, len(parent) + 1):
            here = parent[:i]
            found = self._kind(here)
            if found is None:
                os.mkdir(os.path.join(self.dest, *here))
                self.kinds[here] = "dir"
                self._ours.add(here)
            elif found != "dir":
                raise UnsafePath(f"{what} is written below '{'/'.join(here)}', a {found}")
        here = (*parent, parts[-1])
        found = self._kind(here)
        if found is not None and not (found == kind == "dir"):
            raise UnsafePath(f"{what} would replace the {found} '{'/'.join(here)}' (a duplicate)")
        path = os.path.join(self.dest, *here)
        if len(os.fsencode(path)) >= PATH_MAX:
            raise UnsafePath(f"{what} makes a path longer than PATH_MAX ({PATH_MAX})")
        self.kinds[here] = kind
        if kind == "file":
            self._files.add(here)
        elif kind == "dir" and found is None:
            os.mkdir(path)
            self._ours.add(here)
        return here

    def add_link(self, name: str, target: str, what: str) -> str:
        """Record the symbolic link ``name -> target``; it must stay inside the destination
        (checked again against the final layout by :meth:`check_links`)."""
        if not target or target.startswith("/") or "\0" in target:
            raise UnsafePath(f"{what} points to {target!r}: only relative links are allowed")
        if len(os.fsencode(target)) >= PATH_MAX:
            raise UnsafePath(f"{what} has a target longer than PATH_MAX ({PATH_MAX})")
        here = self._place(name, "link", what)
        self.links[here] = target
        self.resolve(list(here), True, f"{what} (-> {target!r})")
        return os.path.join(self.dest, *here)

    def hard_link_source(self, target: str, what: str) -> str:
        """The file an archive's hard link names: a regular file extracted before."""
        parts = split_relative(target, what)
        real = self.resolve(parts, False, what)
        if real not in self._files:
            raise UnsafePath(f"{what} is a hard link to {target!r}, not a file of this archive")
        return os.path.join(self.dest, *real)

    def check_links(self, root: tuple[str, ...], what: str) -> None:
        """Every link still resolves inside ``root`` (the part of ``dest`` kept)."""
        for here, target in sorted(self.links.items()):
            if here[: len(root)] != root:
                continue  # not kept
            top = "/".join(root)
            name = f"{what}: link '{'/'.join(here)}' -> '{target}'" + (
                f" (its top directory '{top}' is merged away)" if root else ""
            )
            # from inside root, never above it: '../top/x' leaves once 'top' is gone
            self.resolve(list(here), True, name, floor=root)


__all__ = ["Layout", "MAX_LINK_HOPS", "PATH_MAX", "UnsafePath", "local_path_under"]
