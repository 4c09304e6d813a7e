"""Writing ``-o FILE``: all of it or nothing.

Every command writes its file the same way: into a temporary file in the
same folder (``.NAME.XXXXXXXX.tmp.SUFFIX``), flushed to disk, then renamed
over FILE with :func:`os.replace`. A run that is refused, fails or is
interrupted leaves an existing FILE exactly as it was, and removes its
temporary file. A FILE that cannot be written is bad input, like any other:
:func:`check_writable` refuses it before any work, and an :class:`OSError`
while writing gets the same one-line message (a usage error, exit 2).

A symbolic link is written through (the file it names is replaced, the link
stays), an existing file keeps its permissions, and a FILE that is not a
regular file (``/dev/null``, a named pipe) is written in place: there is
nothing to replace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

import click


def _refuse(path: str, hint: str, expected: str, error: OSError | None = None):
    reason = f" ({error.strerror or error})" if error is not None else ""
    return click.BadParameter(f"got {path!r}, expected {expected}{reason}", param_hint=hint)


def _in_place(path: str) -> bool:
    """An existing FILE that is no regular file (a device, a pipe): written in place, never replaced."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _temporary(target: str) -> str:
    """Create an empty temporary file next to ``target`` (permissions as for a new file) and name it."""
    folder, name = os.path.split(target)
    suffix = os.path.splitext(name)[1][:16]  # the plot layer reads the picture format from it
    while True:
        import secrets  # here: it loads hashlib, which start-up does not need

        temporary = os.path.join(folder, f".{name[:64]}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temporary
        except FileExistsError:
            continue


def check_writable(path: str, hint: str = "'--output'") -> None:
    """Refuse, before any work, a FILE that could not be written.

    That is a directory, a file in no existing directory, a read-only file,
    or a file in a folder where no file can be made (no permission, ``/proc``,
    ``/sys``): a temporary file is made there and removed at once to find out.
    """
    if os.path.isdir(path):
        raise _refuse(path, hint, "a file, not a directory")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise _refuse(path, hint, "a file in an existing directory")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise _refuse(path, hint, "a writable file")
    if _in_place(path):
        return
    try:
        os.unlink(_temporary(os.path.realpath(path)))
    except OSError as error:
        # /proc answers "No such file or directory" for a folder that is there: no reason beats that one.
        reason = None if error.errno == errno.ENOENT else error
        raise _refuse(path, hint, "a file in a writable directory", reason) from None


@contextlib.contextmanager
def replacing(path: str, hint: str = "'--output'"):
    """Yield the name of a temporary file to write; when the block ends, it replaces ``path``.

    If the block raises (or is interrupted), the temporary file is removed
    and ``path`` is left as it was. An :class:`OSError` is refused as bad
    input in one line.
    """
    if _in_place(path):
        try:
            yield path
        except OSError as error:
            raise _refuse(path, hint, "a writable file", error) from None
        return
    target = os.path.realpath(path)
    try:
        temporary = _temporary(target)
    except OSError as error:
        raise _refuse(path, hint, "a file in a writable directory", error) from None
    replaced = False
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # on disk before the name points at it
        finally:
            os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))  # an existing file keeps its mode
        os.replace(temporary, target)
        replaced = True
    except OSError as error:
        raise _refuse(path, hint, "a writable file", error) from None
    finally:
        if not replaced:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def write_file(path: str, data: str | bytes, hint: str = "'--output'") -> None:
    """Write text (UTF-8) or bytes to ``path`` through :func:`replacing`."""
    with replacing(path, hint) as temporary:
        if isinstance(data, bytes):
            with open(temporary, "wb") as handle:
                handle.write(data)
        else:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(data)
