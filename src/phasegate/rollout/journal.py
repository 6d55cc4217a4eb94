"""The gateway's inference log: durable on local disk before a response leaves, shipped to the store later.

A request must not wait on the shared database, yet a killed gateway must lose nothing it acknowledged
(DESIGN.md, "Storage and scale"). So `Journal.append` returns only once the record is in an append-only
segment file and fsync'ed. One fsync costs about as much for a hundred records as for one, so a committer
thread writes every record that arrived while the previous fsync ran as one group (group commit). A shipper
thread reads durable records back and hands them to the store in batches, keeping its progress in a
checkpoint file. Shipping is at least once: each record carries an `id` the store de-duplicates on, so a
record shipped again after a crash is harmless, while one never shipped would be a silent loss.

On disk a record is one line, `<crc32 hex> <seq> <json>\\n`, the CRC covering `<seq> <json>`. A crash in
the middle of a write leaves a final line without its newline; recovery reports it and cuts it off instead
of shipping garbage or refusing to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from phasegate.errors import PhasegateError

log = logging.getLogger(__name__)

Record = dict[str, Any]
Ship = Callable[[list[Record]], None]
# When an append returns: once its group is fsync'ed (survives the machine failing), or once it is
# written to the segment (survives the process being killed; the committer thread fsyncs it soon after).
Acknowledge = Literal["fsync", "write"]
ACKNOWLEDGE: tuple[Acknowledge, ...] = get_args(Acknowledge)
# Acknowledging on write, lines written while an fsync ran wait this long for company before the next:
# waking the committer for every line cost the request path a futex call and a thread switch each.
SYNC_EVERY_S = 0.01

SEGMENT_SUFFIX = ".journal"
CHECKPOINT = "checkpoint.json"
LOCK = "lock"
# A store that is down is retried at least this often, so it is caught up soon after it returns.
MAX_RETRY_DELAY_S = 5.0


class JournalError(PhasegateError):
    """The inference log cannot make a record durable, so the request must not be acknowledged."""

    status_code = 503


class JournalClosed(JournalError):
    """The journal was closed; it takes no more records."""


class JournalUnusable(JournalError):
    """The journal's folder cannot be used: not writable, or held by another journal."""


class JournalFailed(JournalError):
    """Writing or fsync'ing a segment failed; the journal takes no more records until reopened."""


class InvalidRecord(JournalError):
    """The record cannot be journaled: not a JSON object, or without the `id` the store de-duplicates on."""

    status_code = 500


class DamagedLine(ValueError):
    """A journal line that is torn (no final newline) or corrupt (bad checksum, sequence or JSON)."""


# -- The line encoding ------------------------------------------------------------------------------


def encode_record(record: Record) -> bytes:
    """The record as compact JSON, checked to be journalable."""
    if not isinstance(record, dict):
        raise InvalidRecord(f"an inference record must be a dict, not {type(record).__name__}")
    if "id" not in record:
        raise InvalidRecord("an inference record needs an 'id' for the store to de-duplicate on")
    try:
        # ASCII keeps newlines and lone surrogates escaped; NaN is refused because the store's JSON is not.
        text = json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidRecord(
            f"inference record {record['id']!r} cannot be written as JSON: {error}"
        ) from error
    return text.encode("ascii")


def encode_line(seq: int, payload: bytes) -> bytes:
    """One journal line: checksum, sequence number, JSON payload, newline."""
    body = b"%d %s" % (seq, payload)
    return b"%08x %s\n" % (zlib.crc32(body), body)


def line_seq(line: bytes) -> int:
    """The sequence number of a line whose newline and checksum are intact; raises `DamagedLine`."""
    return _split_line(line)[0]


def decode_line(line: bytes) -> tuple[int, Record]:
    """The sequence number and record of one line; raises `DamagedLine` if it is torn or corrupt."""
    seq, payload = _split_line(line)
    try:
        record = json.loads(payload)
    except ValueError as error:
        raise DamagedLine(f"corrupt: the payload is not JSON ({error})") from error
    if not isinstance(record, dict):
        raise DamagedLine("corrupt: the payload is not a JSON object")
    return seq, record


def _split_line(line: bytes) -> tuple[int, bytes]:
    if not line.endswith(b"\n"):
        raise DamagedLine("torn: the line has no final newline")
    body = line[9:-1]
    # Compare the hex text, not its value, so that no other spelling of the checksum passes.
    if line[8:9] != b" " or line[:8] != b"%08x" % zlib.crc32(body):
        raise DamagedLine("corrupt: checksum mismatch")
    seq_text, _, payload = body.partition(b" ")
    if not seq_text.isdigit():
        raise DamagedLine("corrupt: no sequence number")
    return int(seq_text), payload


@dataclass(frozen=True)
class LineScan:
    """What a segment's bytes hold: the sequence numbers of intact lines, where they end, bad lines."""

    seqs: tuple[int, ...]
    end: int  # offset just past the last complete line; bytes after it are a torn tail
    corrupt: tuple[tuple[int, int, str], ...]  # (offset, length, reason) of complete lines that fail checks


def scan_lines(data: bytes) -> LineScan:
    """Split a segment's bytes into intact lines, corrupt lines and a torn tail."""
    seqs: list[int] = []
    corrupt: list[tuple[int, int, str]] = []
    offset = 0
    while (newline := data.find(b"\n", offset)) >= 0:
        line = data[offset : newline + 1]
        try:
            seqs.append(line_seq(line))
        except DamagedLine as damage:
            corrupt.append((offset, len(line), str(damage)))
        offset = newline + 1
    return LineScan(seqs=tuple(seqs), end=offset, corrupt=tuple(corrupt))


# -- Recovery ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """Bytes in a segment that recovery could not use."""

    file: Path
    offset: int
    length: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file} at byte {self.offset} ({self.length} bytes): {self.reason}"


@dataclass(frozen=True)
class Segment:
    """A segment file found on opening, holding records not yet shipped."""

    path: Path
    first_seq: int
    last_seq: int | None
    size: int


@dataclass(frozen=True)
class Recovery:
    """What opening a journal found: progress, records left to ship, and the damage it repaired."""

    shipped_through: int
    next_seq: int
    unshipped: int
    segments: tuple[Segment, ...]
    torn: tuple[Damage, ...]  # torn final lines, cut off
    corrupt: tuple[Damage, ...]  # complete lines that fail their checksum, skipped


def recover(folder: Path) -> Recovery:
    """Repair a journal folder no journal has open: cut torn tails, drop shipped segments, report."""
    lock = _lock_folder(Path(folder))
    try:
        return _recover_locked(Path(folder))
    finally:
        os.close(lock)


def _recover_locked(folder: Path) -> Recovery:
    shipped_through = _read_checkpoint(folder)
    with contextlib.suppress(FileNotFoundError):
        (folder / (CHECKPOINT + ".tmp")).unlink()  # a checkpoint write that a crash interrupted
    segments: list[Segment] = []
    torn: list[Damage] = []
    corrupt: list[Damage] = []
    next_seq = shipped_through + 1
    unshipped = 0
    for path in sorted(folder.glob("*" + SEGMENT_SUFFIX)):
        if not path.stem.isdigit():
            log.warning("ignoring %s: not a journal segment name", path)
            continue
        data = path.read_bytes()
        scan = scan_lines(data)
        corrupt += [Damage(path, offset, length, reason) for offset, length, reason in scan.corrupt]
        if scan.end < len(data):
            torn.append(Damage(path, scan.end, len(data) - scan.end, "torn: the final line has no newline"))
            _truncate(path, scan.end)
        if scan.seqs:
            next_seq = max(next_seq, scan.seqs[-1] + 1)
        waiting = sum(1 for seq in scan.seqs if seq > shipped_through)
        if waiting == 0:
            path.unlink()  # empty, or every record in it is shipped
            continue
        unshipped += waiting
        segments.append(Segment(path, int(path.stem), scan.seqs[-1], scan.end))
    for damage in torn + corrupt:
        log.warning("inference journal: %s", damage)
    _fsync_folder(folder)
    return Recovery(
        shipped_through=shipped_through,
        next_seq=next_seq,
        unshipped=unshipped,
        segments=tuple(segments),
        torn=tuple(torn),
        corrupt=tuple(corrupt),
    )


def _read_checkpoint(folder: Path) -> int:
    try:
        return int(json.loads((folder / CHECKPOINT).read_text())["shipped_through"])
    except FileNotFoundError:
        return 0
    except (ValueError, KeyError, TypeError) as error:
        # Starting over only ships records again, which the store de-duplicates; refusing to start would not.
        log.warning(
            "inference journal checkpoint in %s is unreadable (%s); shipping from the start", folder, error
        )
        return 0


def _write_checkpoint(folder: Path, shipped_through: int) -> None:
    temporary = folder / (CHECKPOINT + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, json.dumps({"shipped_through": shipped_through}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, folder / CHECKPOINT)
    # The rename must be durable before shipped segments are deleted, or a crash could forget them as shipped.
    _fsync_folder(folder)


def _lock_folder(folder: Path) -> int:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".probe"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT, 0o644))
        probe.unlink()
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        reason = error.strerror or str(error)
        raise JournalUnusable(f"the inference journal folder {folder} cannot be written: {reason}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        raise JournalUnusable(
            f"the inference journal folder {folder} is in use by another journal (another gateway process?)"
        ) from error
    return fd


def _truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_lines(path: Path, offset: int, end: int, most: int) -> tuple[list[bytes], int]:
    """Up to `most` lines of `path` from `offset`, never past `end`, and the offset after them."""
    lines: list[bytes] = []
    if offset >= end or most <= 0:
        return lines, offset
    with path.open("rb") as file:
        file.seek(offset)
        while len(lines) < most and offset < end:
            line = file.readline(end - offset)
            if not line.endswith(b"\n"):
                break  # only if the file was damaged under us: durable ends always fall on line ends
            lines.append(line)
            offset += len(line)
    return lines, offset


# -- The journal ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalStats:
    """Counts since this journal was opened; `pending` includes records recovered from earlier runs."""

    appended: int
    committed: int
    shipped: int
    pending: int
    groups: int
    last_group_size: int
    ship_failures: int


@dataclass(eq=False)
class _Segment:
    path: Path
    first_seq: int
    last_seq: int | None
    durable_bytes: int
    sealed: bool


_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]


@dataclass(eq=False)
class _Group:
    """Records appended while the committer was busy; one write and one fsync make them all durable."""

    payloads: list[bytes] = field(default_factory=list)
    waiters: list[_Waiter] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    failure: str | None = None

    def resolve(self, failure: str | None) -> None:
        self.failure = failure
        self.done.set()
        for loop, future in self.waiters:
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, future, failure)


def _settle(future: asyncio.Future[None], failure: str | None) -> None:
    if future.done():
        return  # the caller cancelled its wait; the record is journaled all the same
    if failure is None:
        future.set_result(None)
    else:
        future.set_exception(JournalFailed(failure))


class Journal:
    """An append-only, group-committed local log of inference records, shipped to the store in batches."""

    def __init__(
        self,
        folder: Path,
        *,
        ship: Ship,
        batch_size: int = 500,
        ship_interval_s: float = 0.2,
        group_commit_window_s: float = 0.002,
        segment_bytes: int = 16 * 2**20,
        acknowledge: Acknowledge = "fsync",
    ) -> None:
        if batch_size < 1 or ship_interval_s <= 0 or group_commit_window_s < 0 or segment_bytes < 1:
            raise ValueError(
                "batch_size and segment_bytes must be at least 1, ship_interval_s positive, "
                "group_commit_window_s not negative"
            )
        self.folder = Path(folder)
        self._ship = ship
        self._batch_size = batch_size
        self._interval = ship_interval_s
        self._window = group_commit_window_s
        self._segment_bytes = segment_bytes
        if acknowledge not in ACKNOWLEDGE:
            raise ValueError(f"acknowledge must be one of {', '.join(ACKNOWLEDGE)}, not {acknowledge!r}")
        self._acknowledge = acknowledge

        self._lock_fd = _lock_folder(self.folder)
        try:
            self.recovery = _recover_locked(self.folder)
        except OSError as error:
            os.close(self._lock_fd)
            raise JournalUnusable(
                f"the inference journal in {self.folder} cannot be recovered: {error}"
            ) from error

        # One lock guards the state below; the conditions say who is waiting for what.
        self._lock = threading.Lock()
        self._commit_cv = threading.Condition(self._lock)
        self._ship_cv = threading.Condition(self._lock)
        self._progress_cv = threading.Condition(self._lock)
        self._open = _Group()
        self._closing = False
        self._stop_shipping = False
        self._ship_now = False
        self._failure: str | None = None
        self._segments = [
            _Segment(s.path, s.first_seq, s.last_seq, s.size, sealed=True) for s in self.recovery.segments
        ]
        self._shipped_through = self.recovery.shipped_through
        self._durable_seq = max([self._shipped_through] + [s.last_seq or 0 for s in self._segments])
        self._appended = self._committed = self._shipped = self._groups = 0
        self._last_group_size = self._ship_failures = 0
        self._pending = self.recovery.unshipped

        # Owned by the committer thread alone; acknowledging on write, by whoever holds the write lock.
        self._write_lock = threading.Lock()
        self._unsynced = False
        self._syncer_idle = False  # the committer waits for a first line after a quiet spell
        self._next_seq = self.recovery.next_seq
        self._active: _Segment | None = None
        self._fd: int | None = None
        # Owned by the shipper (and by `close` once the shipper has stopped).
        self._cursor: tuple[_Segment, int] | None = None
        self._checkpointed = self.recovery.shipped_through

        self._committer = threading.Thread(target=self._commit_loop, name="journal-commit", daemon=True)
        self._shipper = threading.Thread(target=self._ship_loop, name="journal-ship", daemon=True)
        self._committer.start()
        self._shipper.start()

    # -- The request path ---------------------------------------------------------------------------

    def append(self, record: Record) -> None:
        """Journal `record`; return once it is as durable as `acknowledge` says, so it may be answered."""
        payload = encode_record(record)
        if self._acknowledge == "write":
            self._write_now(payload)
            return
        group = self._enqueue(payload, None)
        group.done.wait()
        if group.failure is not None:
            raise JournalFailed(group.failure)

    async def append_async(self, record: Record) -> None:
        """`append` for the event loop: awaits an fsync without blocking the loop.

        Acknowledging on write, the line is written here, on the loop: one write(2) of a few hundred
        bytes costs less than handing the record to the committer thread and waking up on its answer.
        """
        payload = encode_record(record)
        if self._acknowledge == "write":
            self._write_now(payload)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._enqueue(payload, (loop, future))
        await future

    def _write_now(self, payload: bytes) -> None:
        """Write one record in the caller's thread; the committer thread fsyncs what was written, soon."""
        with self._write_lock:
            with self._lock:
                self._check_open()
                self._appended += 1
            data = encode_line(self._next_seq, payload)
            segment, failure = self._write(data, fsync=False)
            with self._lock:
                if segment is None:
                    self._stop(failure)
                else:
                    self._written(segment, 1, len(data))
                    self._unsynced = True
                    if self._syncer_idle:  # otherwise it looks again within SYNC_EVERY_S by itself
                        self._syncer_idle = False
                        self._commit_cv.notify()
        if failure is not None:
            raise JournalFailed(failure)

    def _check_open(self) -> None:
        """Refuse a record once the journal is closing or has failed; called holding the lock."""
        if self._closing:
            raise JournalClosed(
                f"the inference journal in {self.folder} is closed; the record was not logged"
            )
        if self._failure is not None:
            raise JournalFailed(self._failure)

    def _enqueue(self, payload: bytes, waiter: _Waiter | None) -> _Group:
        with self._lock:
            self._check_open()
            group = self._open
            group.payloads.append(payload)
            if waiter is not None:
                group.waiters.append(waiter)
            self._appended += 1
            self._commit_cv.notify()
            return group

    # -- Committing ---------------------------------------------------------------------------------

    def _commit_loop(self) -> None:
        if self._acknowledge == "write":
            self._sync_loop()
            return
        while True:
            with self._lock:
                self._commit_cv.wait_for(lambda: bool(self._open.payloads) or self._closing)
                if not self._open.payloads:
                    return  # closing, and everything queued is committed
                self._linger()
                group, self._open = self._open, _Group()
            self._commit(group)

    def _sync_loop(self) -> None:
        """Acknowledging on write: fsync what callers wrote since the last fsync.

        The first line after a quiet spell wakes this thread; after each fsync it looks again
        `SYNC_EVERY_S` later without being woken, so under load writers never signal it.
        """
        while True:
            with self._lock:
                if not self._unsynced:
                    self._syncer_idle = True
                    self._commit_cv.wait_for(lambda: self._unsynced or self._closing)
                    self._syncer_idle = False
                if not self._unsynced:
                    return  # closing, and everything written is fsync'ed
                self._unsynced = False
            # A duplicate of the descriptor, so writers go on while this one waits for the disk.
            with self._write_lock:
                fd = os.dup(self._fd) if self._fd is not None else None
            if fd is None:
                continue
            try:
                os.fsync(fd)
            except OSError as error:
                log.exception("inference journal fsync in %s failed", self.folder)
                with self._lock:
                    self._stop(f"fsync of the inference journal in {self.folder} failed ({error})")
                return
            finally:
                os.close(fd)
            with self._lock:
                self._groups += 1
                if not self._closing:  # lines written meanwhile wait for company; a close cuts it short
                    self._commit_cv.wait(SYNC_EVERY_S)

    def _linger(self) -> None:
        """Under concurrent load, wait a moment so requests arriving just after share this group's fsync."""
        # Only until as many have come as last time: waiting longer would idle callers that are all already
        # here. A lone request (last group of one) never waits: the gateway's budget is about 1 ms.
        if self._window == 0 or self._last_group_size < 2 or self._closing:
            return
        expected = min(self._last_group_size, self._batch_size)
        self._commit_cv.wait_for(lambda: self._closing or len(self._open.payloads) >= expected, self._window)

    def _commit(self, group: _Group) -> None:
        count = len(group.payloads)
        data = b"".join(encode_line(self._next_seq + i, p) for i, p in enumerate(group.payloads))
        segment, failure = (
            (None, self._failure) if self._failure is not None else self._write(data, fsync=True)
        )
        with self._lock:
            if segment is None:
                self._stop(failure)
            else:
                self._written(segment, count, len(data))
                self._groups += 1
                self._last_group_size = count
        group.resolve(failure)

    def _write(self, data: bytes, *, fsync: bool) -> tuple[_Segment | None, str | None]:
        """Write lines numbered from the next sequence number (and fsync them): the segment, or why not."""
        try:
            segment = self._segment_for(self._next_seq)
            assert self._fd is not None
            _write_all(self._fd, data)
            if fsync:
                os.fsync(self._fd)
        except Exception as error:
            log.exception("inference journal write to %s failed", self.folder)
            return None, f"writing the inference journal in {self.folder} failed ({error}); no more records"
        return segment, None

    def _written(self, segment: _Segment, count: int, size: int) -> None:
        """Count lines just written as durable and waiting to ship; called holding the lock."""
        self._next_seq += count
        segment.durable_bytes += size
        segment.last_seq = self._durable_seq = self._next_seq - 1
        self._committed += count
        self._pending += count
        if self._pending >= self._batch_size:
            self._ship_cv.notify()
        self._progress_cv.notify_all()

    def _stop(self, failure: str | None) -> None:
        """Take no more records: writing failed; called holding the lock."""
        self._failure = failure
        self._progress_cv.notify_all()

    def _segment_for(self, first_seq: int) -> _Segment:
        """The segment to write to, starting a new one when the current one is full."""
        if self._active is not None and self._active.durable_bytes < self._segment_bytes:
            return self._active
        if self._active is not None and self._fd is not None:
            if self._acknowledge == "write":
                os.fsync(self._fd)  # what callers wrote since the last fsync, before the segment is sealed
            os.close(self._fd)
            self._fd = None
            with self._lock:
                self._active.sealed = True
        path = self.folder / f"{first_seq:020d}{SEGMENT_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        # The new file's name must be durable before any record in it is acknowledged.
        _fsync_folder(self.folder)
        self._active = _Segment(path, first_seq, None, 0, sealed=False)
        with self._lock:
            self._segments.append(self._active)
        return self._active

    # -- Shipping -----------------------------------------------------------------------------------

    def _ship_loop(self) -> None:
        delay = 0.0
        while True:
            with self._lock:
                if delay:
                    self._ship_cv.wait_for(lambda: self._stop_shipping or self._ship_now, delay)
                else:
                    self._ship_cv.wait_for(
                        lambda: self._stop_shipping or self._ship_now or self._pending >= self._batch_size,
                        self._interval,
                    )
                if self._stop_shipping:
                    return
                self._ship_now = False
            shipped = self._ship_available(lambda: not self._stop_shipping)
            delay = 0.0 if shipped else min(max(2 * delay, self._interval), MAX_RETRY_DELAY_S)

    def _ship_available(self, keep_going: Callable[[], bool]) -> bool:
        """Ship durable records batch by batch; False if `ship` failed (the batch stays to be retried)."""
        while keep_going():
            start = self._cursor
            records, cursor = self._read_batch()
            if not records:
                self._cursor = cursor
                if cursor == start:
                    return True
                continue  # skipped only records shipped before a restart
            try:
                self._ship([record for _, record in records])
            except Exception:
                log.warning(
                    "shipping %d inference records failed; retrying later", len(records), exc_info=True
                )
                with self._lock:
                    self._ship_failures += 1
                return False
            self._cursor = cursor
            self._mark_shipped(records[-1][0], len(records))
        return True

    def _read_batch(self) -> tuple[list[tuple[int, Record]], tuple[_Segment, int] | None]:
        """Up to a batch of durable, unshipped records from the cursor on, and the cursor after them."""
        with self._lock:
            if not self._segments:
                return [], self._cursor
            start = self._cursor or (self._segments[0], 0)
            index = next(i for i, s in enumerate(self._segments) if s is start[0])
            view = [(s, s.durable_bytes, s.sealed) for s in self._segments[index:]]
            shipped_through = self._shipped_through
        records: list[tuple[int, Record]] = []
        position = start
        for number, (segment, end, sealed) in enumerate(view):
            lines, offset = _read_lines(segment.path, position[1], end, self._batch_size - len(records))
            position = (segment, offset)
            for line in lines:
                try:
                    seq, record = decode_line(line)
                except DamagedLine as damage:
                    log.warning("inference journal: skipping a line of %s: %s", segment.path, damage)
                    continue
                if seq > shipped_through:
                    records.append((seq, record))
            if len(records) >= self._batch_size or offset < end or not sealed or number + 1 == len(view):
                break
            position = (view[number + 1][0], 0)  # this sealed segment is read to its end: on to the next
        return records, position

    def _mark_shipped(self, last_seq: int, count: int) -> None:
        with self._lock:
            self._shipped_through = last_seq
            self._shipped += count
            self._pending -= count
        try:
            _write_checkpoint(self.folder, last_seq)
            self._checkpointed = last_seq
        except OSError:
            # The records are shipped; without the checkpoint they are only shipped again after a restart.
            log.warning("inference journal checkpoint in %s could not be written", self.folder, exc_info=True)
        self._delete_shipped_segments()
        with self._lock:
            self._progress_cv.notify_all()

    def _delete_shipped_segments(self) -> None:
        assert self._cursor is not None
        with self._lock:
            shipped: list[_Segment] = []
            for segment in self._segments:
                if segment is self._cursor[0] or (segment.last_seq or 0) > self._checkpointed:
                    break
                shipped.append(segment)
            del self._segments[: len(shipped)]
        for segment in shipped:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()

    # -- Control ------------------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every record appended so far is durable and shipped; raise `TimeoutError` if not."""
        deadline = time.monotonic() + timeout
        with self._lock:
            appended = self._appended
            self._progress_cv.wait_for(
                lambda: self._committed >= appended or self._failure is not None, timeout
            )
            if self._failure is not None:
                raise JournalFailed(self._failure)
            target = self._durable_seq
            self._ship_now = True
            self._ship_cv.notify()
            done = self._progress_cv.wait_for(
                lambda: self._shipped_through >= target, max(0.0, deadline - time.monotonic())
            )
            if not done:
                raise TimeoutError(
                    f"inference journal in {self.folder}: {self._pending} records unshipped after {timeout} s"
                )

    def close(self, timeout: float = 5.0) -> None:
        """Take no more records, commit the queued ones, ship what can be shipped within `timeout`, stop."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._commit_cv.notify()
        self._committer.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._stop_shipping = True
            self._ship_cv.notify()
        self._shipper.join(max(0.0, deadline - time.monotonic()))
        if self._committer.is_alive() or self._shipper.is_alive():
            # A hung fsync or ship: leave the files and the folder lock to the stuck thread; records stay.
            log.warning("inference journal in %s did not stop within %s s", self.folder, timeout)
            return
        self._drain(deadline)
        with self._write_lock:  # a write that began before `_closing` was set has ended
            if self._fd is not None:
                if self._acknowledge == "write":
                    with contextlib.suppress(OSError):  # it stays in the kernel's cache all the same
                        os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
        os.close(self._lock_fd)
        left = self.stats().pending
        if left:
            log.warning(
                "inference journal in %s closed with %d records to ship at next start", self.folder, left
            )

    def _drain(self, deadline: float) -> None:
        delay = self._interval
        while not self._ship_available(lambda: time.monotonic() < deadline):
            if time.monotonic() + delay >= deadline:
                return
            time.sleep(delay)
            delay = min(2 * delay, MAX_RETRY_DELAY_S)

    def stats(self) -> JournalStats:
        """Counts since this journal was opened."""
        with self._lock:
            return JournalStats(
                appended=self._appended,
                committed=self._committed,
                shipped=self._shipped,
                pending=self._pending,
                groups=self._groups,
                last_group_size=self._last_group_size,
                ship_failures=self._ship_failures,
            )

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
