"""The file-operation sandbox: copy, move, delete and create directories, only inside approved folders.

Every request passes two gates. The first is Butler's own lexical rule (normalise the text, then
the parent folder's names must start with an approved folder's names), so nothing Butler refuses
is allowed. The second resolves the path for real, beneath the approved folder's open handle
(`resolve.locate`): links are followed only while they stay inside, and the operation then runs
on the handles that were checked. Every request is logged with the client's address, what it
asked for and the outcome.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from qbutler.activity import ActivityFeed
from qbutler.config import Config
from qbutler.files import transfer
from qbutler.files.handles import DIR_FDS_SUPPORTED, Dir
from qbutler.files.paths import (
    HOST_FLAVOUR,
    Flavour,
    below,
    dirname,
    is_unc,
    is_within,
    normalize,
    too_long,
    windows_problem,
)
from qbutler.files.resolve import Escape, Located, ensure_directory, locate

log = logging.getLogger("qbutler.files")
T = TypeVar("T")
_FAILURES = {"copy": "Failed copying file", "move": "Failed moving file"}


class FileOperationError(Exception):
    """A refused or failed request: the HTTP status and the message the client sees."""

    def __init__(self, status: int, message: str, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        # For the log only: may name real paths the client must not learn.
        self.detail = detail


@dataclass(frozen=True)
class FolderPair:
    source: str
    target: str


@dataclass(frozen=True)
class _Outcome:
    """Why one approved folder (or pair) could not serve a request."""

    missing: bool = False
    # The field that leads outside, and (for the log only) how.
    escape: str = ""
    how: str = ""


class Sandbox:
    def __init__(self, *, copy_pairs: list[tuple[str, str]], move_pairs: list[tuple[str, str]],
                 delete_folders: list[str], qvd_folder: str = "", base_dir: Path | None = None,
                 create_dir_anywhere: bool = False, flavour: Flavour = HOST_FLAVOUR,
                 use_fds: bool = DIR_FDS_SUPPORTED, activity: ActivityFeed | None = None):
        self.flavour = flavour
        self.copy_pairs = [FolderPair(normalize(a, flavour), normalize(b, flavour)) for a, b in copy_pairs]
        self.move_pairs = [FolderPair(normalize(a, flavour), normalize(b, flavour)) for a, b in move_pairs]
        self.delete_folders = [normalize(folder, flavour) for folder in delete_folders]
        self.qvd_folder = normalize(qvd_folder, flavour) if qvd_folder else ""
        self.base_dir = base_dir or Path.cwd()
        self.create_dir_anywhere = create_dir_anywhere
        self.use_fds = use_fds
        self.activity = activity

    @classmethod
    def from_config(cls, config: Config, activity: ActivityFeed | None = None) -> Sandbox:
        butler = config.Butler
        sandbox = cls(
            copy_pairs=[(p.fromDirectory, p.toDirectory) for p in butler.fileCopyApprovedDirectories],
            move_pairs=[(p.fromDirectory, p.toDirectory) for p in butler.fileMoveApprovedDirectories],
            delete_folders=list(butler.fileDeleteApprovedDirectories),
            qvd_folder=butler.configDirectories.qvdPath,
            base_dir=config.base_dir,
            create_dir_anywhere=butler.fileOperations.createDirAnywhere,
            activity=activity,
        )
        for problem in sandbox.configuration_problems():
            log.warning("File operations: %s", problem)
        return sandbox

    def configuration_problems(self) -> list[str]:
        """Approved folders that cannot work as configured, for a warning at start-up."""
        problems = []
        for folder in self.approved_folders():
            if self.flavour != "windows" and is_unc(folder):
                problems.append(f"approved directory {folder} is a UNC path, which only works on Windows")
            elif self.flavour == "windows" and windows_problem(folder):
                problems.append(f"approved directory {folder}: {windows_problem(folder)}")
        if self.create_dir_anywhere:
            problems.append("createDirAnywhere is true: createdir may create folders anywhere the service may write")
        return problems

    def approved_folders(self) -> list[str]:
        """Every folder some operation may write to: where `createdir` may create directories."""
        folders = [folder for pair in [*self.copy_pairs, *self.move_pairs] for folder in (pair.source, pair.target)]
        folders += self.delete_folders
        if self.qvd_folder:
            folders.append(self.qvd_folder)
        return list(dict.fromkeys(folders))

    # ------------------------------------------------------------------ the five operations

    async def copy(self, from_file: str, to_file: str, *, overwrite: bool, preserve_timestamp: bool,
                   client: str) -> tuple[str, str]:
        """Copy a file or directory; returns the normalised paths. Butler: existing kept unless overwrite."""
        return await self._run("copy", client, f"fromFile={from_file!r} toFile={to_file!r} overwrite={overwrite}",
                               lambda: self._copy(from_file, to_file, overwrite, preserve_timestamp))

    async def move(self, from_file: str, to_file: str, *, overwrite: bool, client: str) -> tuple[str, str]:
        return await self._run("move", client, f"fromFile={from_file!r} toFile={to_file!r} overwrite={overwrite}",
                               lambda: self._move(from_file, to_file, overwrite))

    async def delete(self, path: str, *, client: str) -> None:
        await self._run("delete", client, f"deleteFile={path!r}", lambda: self._delete(path))

    async def create_dir(self, directory: str, *, client: str) -> None:
        await self._run("createdir", client, f"directory={directory!r}", lambda: self._create_dir(directory))

    async def create_dir_qvd(self, directory: str, *, client: str) -> None:
        await self._run("createdirqvd", client, f"directory={directory!r}", lambda: self._create_dir_qvd(directory))

    async def _run(self, operation: str, client: str, what: str, action: Callable[[], T]) -> T:
        try:
            result = await asyncio.to_thread(action)
        except FileOperationError as exc:
            outcome = f"refused with {exc.status}: {exc.message}" + (f" ({exc.detail})" if exc.detail else "")
            log.log(logging.ERROR if exc.status >= 500 else logging.WARNING,
                    "File %s requested by %s, %s: %s", operation, client, what, outcome)
            self._publish(operation, client, what, outcome, exc.status)
            raise
        log.info("File %s requested by %s, %s: done", operation, client, what)
        self._publish(operation, client, what, "done", 200)
        return result

    def _publish(self, operation: str, client: str, what: str, outcome: str, status: int) -> None:
        if self.activity is not None:
            self.activity.publish(f"files.{operation}", f"{operation} {what}: {outcome}",
                                  client=client, status=status)

    # ------------------------------------------------------------------ copy and move

    def _copy(self, raw_from: str, raw_to: str, overwrite: bool, preserve: bool) -> tuple[str, str]:
        source, target = self._request_pair(raw_from, raw_to, "copy")
        pairs = self._approved_pairs(self.copy_pairs, source, target)
        if not pairs:
            raise FileOperationError(403, "No approved fromDir/toDir for file copy")
        with self._locate_pair(pairs, source, target, "copy", follow_source=True) as (src, dst):
            try:
                transfer.copy(src, dst, overwrite=overwrite, preserve_timestamp=preserve)
            except transfer.SourceMissing:
                raise FileOperationError(400, "fromFile does not exist") from None
            except transfer.NotCopyable:
                raise FileOperationError(400, "fromFile is not a regular file or directory") from None
            except transfer.DirectoryInTheWay:
                raise FileOperationError(409, "toFile (or a folder inside it) is a file or a link, which a "
                                              "copied directory does not replace") from None
            except OSError as exc:
                raise _failure("Failed copying file", exc) from None
        return source, target

    def _move(self, raw_from: str, raw_to: str, overwrite: bool) -> tuple[str, str]:
        source, target = self._request_pair(raw_from, raw_to, "move")
        pairs = self._approved_pairs(self.move_pairs, source, target)
        if not pairs:
            raise FileOperationError(403, "No approved fromDir/toDir for file move")
        with self._locate_pair(pairs, source, target, "move", follow_source=False) as (src, dst):
            try:
                transfer.move(src, dst, overwrite=overwrite)
            except transfer.SourceMissing:
                raise FileOperationError(400, "fromFile does not exist") from None
            except transfer.NotCopyable as exc:
                raise FileOperationError(500, "Failed moving file", _describe(exc)) from None
            except OSError as exc:
                raise _failure("Failed moving file", exc) from None
        return source, target

    def _approved_pairs(self, pairs: list[FolderPair], source: str, target: str) -> list[FolderPair]:
        """Butler's rule: one pair must hold both parent folders."""
        return [pair for pair in pairs if is_within(dirname(source), pair.source, self.flavour)
                and is_within(dirname(target), pair.target, self.flavour)]

    def _request_pair(self, raw_from: str, raw_to: str, operation: str) -> tuple[str, str]:
        if not raw_from or not raw_to:
            raise FileOperationError(400, "Required parameter missing")
        for raw in (raw_from, raw_to):
            self._refuse_unc(raw, f"file {operation}")
        return self._normalised("fromFile", raw_from), self._normalised("toFile", raw_to)

    @contextmanager
    def _locate_pair(self, pairs: list[FolderPair], source: str, target: str, operation: str,
                     follow_source: bool) -> Iterator[tuple[Located, Located]]:
        """The first pair under which both paths resolve inside their folders."""
        outcomes: list[_Outcome] = []
        for pair in pairs:
            with self._root(pair.source, create=False, failure=_FAILURES[operation]) as from_root:
                if from_root is None:
                    outcomes.append(_Outcome(missing=True))
                    continue
                src = self._locate("fromFile", from_root, below(source, pair.source), follow_source, outcomes)
                if src is None:
                    continue
                try:
                    try:
                        exists = src.lstat() is not None
                    except OSError as exc:
                        raise _failure(_FAILURES[operation], exc) from None
                    if not exists:
                        outcomes.append(_Outcome(missing=True))
                        continue
                    with self._root(pair.target, create=True, failure=_FAILURES[operation]) as to_root:
                        assert to_root is not None  # created if missing
                        dst = self._locate("toFile", to_root, below(target, pair.target), False, outcomes,
                                           create_parents=True, failure=_FAILURES[operation])
                        if dst is None:
                            continue
                        try:
                            yield src, dst
                            return
                        finally:
                            dst.close()
                finally:
                    src.close()
        raise self._refusal(outcomes, f"No approved fromDir/toDir for file {operation}", "fromFile does not exist")

    def _locate(self, field: str, root: Dir, parts: list[str], follow_final: bool,
                outcomes: list[_Outcome], *, create_parents: bool = False, failure: str = "") -> Located | None:
        """Resolve beneath `root`; None (with the reason added to `outcomes`) if it is not inside."""
        try:
            return locate(root, parts, self.flavour, follow_final=follow_final, create_parents=create_parents)
        except Escape as exc:
            outcomes.append(_Outcome(escape=field, how=exc.reason))
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise FileOperationError(400, f"{field} is too long") from None
            if exc.errno == errno.ELOOP:
                raise FileOperationError(400, f"{field} cannot be resolved: too many levels of symbolic links"
                                         ) from None
            if create_parents:
                raise _failure(failure, exc) from None
            outcomes.append(_Outcome(missing=True))
        return None

    @staticmethod
    def _refusal(outcomes: list[_Outcome], refused: str, missing: str) -> FileOperationError:
        # A path that exists inside some approved folder is "missing" rather than "refused".
        if any(outcome.missing for outcome in outcomes):
            return FileOperationError(400, missing)
        escape = next((outcome for outcome in outcomes if outcome.escape), None)
        if escape is None:
            return FileOperationError(403, refused)
        return FileOperationError(403, f"{refused}: {escape.escape} leads outside the approved directory", escape.how)

    # ------------------------------------------------------------------ delete

    def _delete(self, raw: str) -> None:
        if not raw:
            raise FileOperationError(400, "Required parameter missing")
        self._refuse_unc(raw, "file delete")
        path = self._normalised("deleteFile", raw)
        folders = [f for f in self.delete_folders if is_within(dirname(path), f, self.flavour)]
        if not folders:
            raise FileOperationError(403, "No approved directory for file delete")
        outcomes: list[_Outcome] = []
        for folder in folders:
            with self._root(folder, create=False, failure="Failed deleting file") as root:
                if root is None:
                    outcomes.append(_Outcome(missing=True))
                    continue
                target = self._locate("deleteFile", root, below(path, folder), False, outcomes)
                if target is None:
                    continue
                try:
                    transfer.delete(target)
                    return
                except transfer.SourceMissing:
                    outcomes.append(_Outcome(missing=True))
                except OSError as exc:
                    raise _failure("Failed deleting file", exc) from None
                finally:
                    target.close()
        raise self._refusal(outcomes, "No approved directory for file delete", "Delete failed, file does not exist")

    # ------------------------------------------------------------------ create directories

    def _create_dir(self, raw: str) -> None:
        if self.create_dir_anywhere:
            # Butler's behaviour, chosen explicitly in the config: any folder the service can write.
            try:
                os.makedirs(os.path.join(self.base_dir, raw), exist_ok=True)
            except (OSError, ValueError) as exc:
                raise FileOperationError(500, "Failed to create directory", str(exc)) from None
            return
        self._refuse_unc(raw, "directory creation")
        path = self._normalised("directory", raw)
        folders = [f for f in self.approved_folders() if is_within(path, f, self.flavour)]
        if not folders:
            raise FileOperationError(403, "Directory must be within an approved directory")
        self._ensure_inside(folders, path, "Directory must be within an approved directory")

    def _create_dir_qvd(self, raw: str) -> None:
        if not self.qvd_folder:
            raise FileOperationError(500, "Failed creating directory",
                                     "Butler.configDirectories.qvdPath is not set")
        # A leading '/' in `directory` does not make it absolute: it is always joined to qvdPath.
        path = self._normalised("directory", f"{self.qvd_folder}/{raw}")
        if not is_within(path, self.qvd_folder, self.flavour):
            raise FileOperationError(403, "Directory must be within the QVD folder")
        self._ensure_inside([self.qvd_folder], path, "Directory must be within the QVD folder")

    def _ensure_inside(self, folders: list[str], path: str, refused: str) -> None:
        outcomes: list[_Outcome] = []
        for folder in folders:
            with self._root(folder, create=True, failure="Failed to create directory") as root:
                assert root is not None  # created if missing
                try:
                    ensure_directory(root, below(path, folder), self.flavour)
                    return
                except Escape as exc:
                    outcomes.append(_Outcome(escape="directory", how=exc.reason))
                except OSError as exc:
                    if exc.errno == errno.ENAMETOOLONG:
                        raise FileOperationError(400, "directory is too long") from None
                    raise _failure("Failed to create directory", exc) from None
        raise self._refusal(outcomes, refused, "")

    # ------------------------------------------------------------------ shared checks

    def _refuse_unc(self, raw: str, operation: str) -> None:
        if self.flavour != "windows" and is_unc(raw):
            raise FileOperationError(
                400, f"UNC paths not supported for {operation} operations when running Butler on non-Windows OS. "
                     f"Path: {raw}")

    def _normalised(self, field: str, raw: str) -> str:
        if "\x00" in raw:
            raise FileOperationError(400, f"{field} contains a NUL character")
        if self.flavour == "windows":
            problem = windows_problem(raw)
            if problem:
                raise FileOperationError(400, f"{field} is not allowed: {problem}")
        path = normalize(raw, self.flavour)
        if too_long(path, self.flavour):
            raise FileOperationError(400, f"{field} is too long")
        return path

    @contextmanager
    def _root(self, folder: str, *, create: bool, failure: str) -> Iterator[Dir | None]:
        """An approved folder's handle; a missing one is created if `create`, else None."""
        real = os.path.join(self.base_dir, folder)
        try:
            if create:
                os.makedirs(real, exist_ok=True)
            root = Dir.open_root(real, self.use_fds)
        except FileNotFoundError as exc:
            if create:
                raise FileOperationError(500, failure, f"approved directory {folder}: {_describe(exc)}") from None
            yield None
            return
        except OSError as exc:
            raise FileOperationError(500, failure, f"approved directory {folder}: {_describe(exc)}") from None
        try:
            yield root
        finally:
            with suppress(OSError):
                root.close()


# A path that was just checked and is now missing or replaced: another process changed the tree.
_CHANGED_MEANWHILE = {errno.ENOENT, errno.ESTALE}


def _failure(message: str, exc: OSError) -> FileOperationError:
    """500 for a failure, 409 when the tree changed under a checked path (the client may retry)."""
    if exc.errno in _CHANGED_MEANWHILE:
        return FileOperationError(409, f"{message}: the folder changed during the operation, try again",
                                  _describe(exc))
    return FileOperationError(500, message, _describe(exc))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
