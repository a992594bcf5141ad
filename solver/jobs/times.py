"""A job's instants and durations on the wire: google.protobuf Timestamp and Duration, with the
deprecated double fields of earlier versions (seconds since the Unix epoch, seconds) carrying
the same values for the clients that still read them (issue 13 item 8).

The store keeps instants as float epoch seconds (time.time()); a double near 1.7e9 resolves
about 0.24 us, so a Timestamp gets whole microseconds: finer digits would be noise.
"""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from prunecert.v1 import jobs_pb2


def timestamp(epoch_seconds: float) -> Timestamp | None:
    """The instant as a Timestamp, None for 0 (the store's "not yet")."""
    if epoch_seconds <= 0:
        return None
    stamp = Timestamp()
    stamp.FromMicroseconds(round(epoch_seconds * 1e6))
    return stamp


def duration(seconds: float) -> Duration:
    out = Duration()
    out.FromNanoseconds(round(seconds * 1e9))
    return out


def fill_job_times(job: jobs_pb2.Job) -> jobs_pb2.Job:
    """Set ``created``, ``started`` and ``finished`` from the epoch doubles (0: left unset);
    returns ``job``. The server fills both forms from the store's one value through this."""
    for double, field in (
        (job.created_time, "created"),
        (job.started_time, "started"),
        (job.finished_time, "finished"),
    ):
        stamp = timestamp(double)
        if stamp is None:
            job.ClearField(field)
        else:
            getattr(job, field).CopyFrom(stamp)
    return job


def set_item_seconds(item: jobs_pb2.JobItemResult, seconds: float) -> None:
    """The item's time in its worker, as ``duration`` and the deprecated ``seconds``."""
    item.seconds = seconds
    item.duration.CopyFrom(duration(seconds))


def item_seconds(item: jobs_pb2.JobItemResult) -> float:
    """The item's time in its worker: ``duration``, or the deprecated double of a result stored
    before ``duration`` existed."""
    if item.HasField("duration"):
        return item.duration.ToNanoseconds() / 1e9
    return item.seconds


def fill_item_duration(item: jobs_pb2.JobItemResult) -> None:
    """Give a result stored before ``duration`` existed its ``duration`` (from ``seconds``)."""
    if not item.HasField("duration"):
        item.duration.CopyFrom(duration(item.seconds))
