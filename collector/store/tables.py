"""The collector's tables (SQLAlchemy Core).

Times are stored as timezone-aware UTC (``timestamptz`` on PostgreSQL, ISO
text on SQLite, see :class:`UTCDateTime`).  ``metrics`` and ``details`` are
JSON text, written once by ingest and handed back verbatim.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

from collector.store.compact import PackedText, Stamp, UidBytes

__all__ = [
    "MAX_ROW_ID", "metadata", "agent_tokens", "agent_token_hosts", "users", "results", "latest",
    "result_series", "result_texts", "result_rows", "views", "maintenance_runs", "hosts", "UTCDateTime",
    "notify_events", "notify_deliveries", "notify_robots", "tickets", "ticket_events", "ticket_streaks",
    "LIVE_STATES", "archive_entries", "web_sessions", "records", "record_signatures", "audit_log",
    "ticket_followups", "health_probe",
    "enrol_keys", "fleet_hosts", "fleet_versions",
    "relays", "relay_batches", "relay_results", "relay_bundles", "ferry_refused",
]

MAX_ROW_ID = 2**63 - 1  # ids are BIGINT (64-bit signed) on every backend: nothing larger can name a row


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no offset, so values are normalised to UTC on the way in
    and marked UTC on the way out; PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store only takes timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        dt: datetime = value  # the driver hands back a datetime
        if dt.tzinfo is None:
            return dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)


# A 64-bit row id; on SQLite an INTEGER, so that it is the rowid alias and numbers itself.
_BIG_ID = BigInteger().with_variant(Integer, "sqlite")
_ITEM_KEY = (("site", 64), ("host", 64), ("check", 64), ("item", 255))


def _item_key(*, primary_key: bool = False) -> list[Column[Any]]:
    """A check item's key, site/host/check/item: the columns of each table that holds one row per item."""
    if primary_key:
        return [Column(name, String(length), primary_key=True) for name, length in _ITEM_KEY]
    return [Column(name, String(length), nullable=False) for name, length in _ITEM_KEY]


metadata = MetaData()

agent_tokens = Table(
    "agent_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("host", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    # a rotated token stays valid until expires_at (the grace period); NULL: no expiry
    Column("expires_at", UTCDateTime),
    # the token that replaced this one by rotation, and that token sealed with a key derived
    # from this one (collector/credentials.py): only the holder of this token can open it
    Column("successor_id", Integer),
    Column("successor_box", Text),
)

# The extra hosts an agent token may write results for (hosts its agent checks remotely,
# e.g. over SSH), in the token's own site; the token's own host is in agent_tokens.
agent_token_hosts = Table(
    "agent_token_hosts", metadata,
    Column("token_id", Integer, ForeignKey("agent_tokens.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(64), primary_key=True),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),  # a disabled person's token and sessions stop working
)

# --- results (compact, see collector/store/compact.py) -----------------------
# ``result_series`` interns site/host/check/item; ``result_texts`` holds each
# text template once; ``result_rows`` is one small row per result.  Readers use
# ``results``, a view (migrations 0013, 0015, 0019) with the columns a result always had; its site and host
# are its host series' (``result_rows.host_id``), so a filter on them reaches ``ix_result_rows_host_started``.

result_series = Table(
    "result_series", metadata,
    Column("id", Integer, primary_key=True),
    *_item_key(),
    UniqueConstraint("site", "host", "check", "item", name="uq_result_series_key"),
)

result_texts = Table(
    "result_texts", metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", LargeBinary(16), nullable=False, unique=True),
    Column("template", Text, nullable=False),
)

result_rows = Table(
    "result_rows", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("uid", UidBytes, nullable=False, unique=True),
    Column("series_id", Integer, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("started_at", Stamp, nullable=False),
    Column("received_at", Stamp, nullable=False),
    Column("duration_us", BigInteger, nullable=False),
    Column("text_id", Integer, nullable=False),
    Column("changed", Text, nullable=False),  # the numbers that differ from the template's
    # its host's series, (site, host, "", ""): an agent's batch is one host's, so it appends to the end of one
    # host's run in this index, not to the ends of each of its series' runs (migration 0019)
    Column("host_id", Integer, nullable=False),
    Index("ix_result_rows_host_started", "host_id", "started_at", "series_id"),
)

# Daily maintenance claimed once across collectors (collector/retention.py): one row per job and day.
maintenance_runs = Table(
    "maintenance_runs", metadata,
    Column("job", String(32), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
)

# The view readers select from (not created by metadata: migration 0013 defines it per dialect).
views = MetaData()
results = Table(
    "results", views,
    Column("id", BigInteger, primary_key=True),
    Column("uid", UidBytes, nullable=False),
    *_item_key(),
    Column("status", SmallInteger, nullable=False),
    Column("summary", PackedText(0), nullable=False),
    Column("standard", PackedText(1), nullable=False),
    Column("started_at", Stamp, nullable=False),
    Column("received_at", Stamp, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("metrics", PackedText(3), nullable=False),
    Column("details", PackedText(2), nullable=False),
    # {"message": {...}, "standard_message": {...}} as JSON (checks/messages); "" from agents without keys
    # and for results stored before migration 0015
    Column("messages", PackedText(4), nullable=False),
)

latest = Table(
    "latest", metadata,
    *_item_key(primary_key=True),
    Column("status", SmallInteger, nullable=False),
    Column("summary", Text, nullable=False),
    Column("standard", Text, nullable=False),
    Column("result_uid", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("messages", Text),  # as in results
)

hosts = Table(
    "hosts", metadata,
    Column("site", String(64), primary_key=True),
    Column("host", String(64), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("clock_offset_s", Float),
    Column("spool_backlog", BigInteger),
    Column("agent_version", String(64)),
    Column("config_version", String(64)),  # the central config the agent reported running
)

# --- notifications (collector/notify) --------------------------------------
# ``notify_events`` is the outbox: one row per ticket event, written by
# ``collector.notify.enqueue`` inside the ticket's own transaction.  The
# dispatcher fans each event out once (``fanned_out_at``) into
# ``notify_deliveries``, one row per channel, unique per (event, channel);
# a delivery is ``pending`` (to send at ``next_at``), ``sent`` or ``failed``.

notify_events = Table(
    "notify_events", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("uid", String(32), nullable=False, unique=True),
    Column("event", String(16), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("site", String(64), nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("ticket", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("fanned_out_at", UTCDateTime),
    Index("ix_notify_events_fanned_out_at", "fanned_out_at"),
    Index("ix_notify_events_ticket_id", "ticket_id", "id"),
)

notify_deliveries = Table(
    "notify_deliveries", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("event_id", _BIG_ID,
           ForeignKey("notify_events.id"), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),  # the event's: per ticket and channel, in event order
    Column("language", String(8), nullable=False),
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    UniqueConstraint("event_id", "channel", name="uq_notify_deliveries_event_channel"),
    Index("ix_notify_deliveries_state_next_at", "state", "next_at"),
    Index("ix_notify_deliveries_channel_ticket", "channel", "ticket_id", "event_id"),
)

# ``notify_robots``: per receiver (``key``, a hash of its URL), shared by every collector:
# ``blocked_until`` (it refused us for sending too much) and ``recent``, the times (epoch
# seconds, JSON) of the sends within its longest rate window.
notify_robots = Table(
    "notify_robots", metadata,
    Column("key", String(64), primary_key=True),
    Column("blocked_until", UTCDateTime),
    Column("recent", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- tickets (collector/tickets/) --------------------------------------------
# ``tickets`` is the ledger: at most one live (open or acknowledged) ticket per
# (site, host, check, item), enforced by the partial unique index
# ``uq_tickets_live``.  ``ticket_events`` is its append-only history.
# ``ticket_streaks`` holds, per check item that has been bad recently, the
# consecutive bad/good counts and the last results' bad/good string that the
# noise rules (N bad to open, M good to recover, flapping) read.
# ``tickets.terms`` keeps the deadlines' terms as the policy wrote them
# (``{"response": {"within": "2h", "clock": "business"}, "resolve": ..., "onsite": ...}``);
# each ``ticket_events.snapshot`` holds what records show of the ticket after
# that event (collector/ticket_history.py); both are NULL in rows written
# before schema 0008.
# ``tickets.assignee`` names the person a ticket is for when it is not the
# engineers' queue's (a service complaint: the site's account manager; schema 0009).
# ``ticket_followups`` holds the customer follow-up (回访) of a resolved ticket: one
# per ticket (``ticket_id`` unique), append-only; ``complaint_ticket_id`` is the
# service complaint a low score opened (collector/followups.py).

LIVE_STATES = ("open", "acknowledged")

tickets = Table(
    "tickets", metadata,
    Column("id", _BIG_ID, primary_key=True),
    *_item_key(),
    Column("severity", SmallInteger, nullable=False),
    Column("initial_severity", SmallInteger, nullable=False),
    Column("level_name", String(64), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("reported_via", String(32), nullable=False),
    Column("reported_by", String(64), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("response_due", UTCDateTime, nullable=False),
    Column("resolve_due", UTCDateTime, nullable=False),
    Column("acknowledged_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("occurrences", Integer, nullable=False),
    Column("last_result_id", String(32)),
    Column("last_status", SmallInteger),
    Column("last_seen_at", UTCDateTime),
    Column("flapping", Boolean, nullable=False),
    Column("response_breached", Boolean, nullable=False),
    Column("resolve_breached", Boolean, nullable=False),
    Column("reopened_count", Integer, nullable=False),
    Column("onsite_requested_at", UTCDateTime),
    Column("onsite_due", UTCDateTime),
    Column("onsite_breached", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("terms", JSON),
    Column("assignee", String(64)),
    Column("messages", Text),  # the opening result's message keys (results.messages), for readers' languages
    Index("uq_tickets_live", "site", "host", "check", "item", unique=True,
          sqlite_where=text("state IN ('open', 'acknowledged')"),
          postgresql_where=text("state IN ('open', 'acknowledged')")),
    Index("ix_tickets_site_host_state", "site", "host", "state"),
    Index("ix_tickets_state_opened_at", "state", "opened_at"),
)

ticket_events = Table(
    "ticket_events", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("ticket_id", _BIG_ID, ForeignKey("tickets.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16)),
    Column("note", Text, nullable=False),
    Column("snapshot", JSON),
    Column("message", Text),  # a note the collector wrote: its key and arguments (collector/messages.py)
    Index("ix_ticket_events_ticket_id", "ticket_id", "id"),
)

ticket_followups = Table(
    "ticket_followups", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("ticket_id", _BIG_ID, ForeignKey("tickets.id"), nullable=False, unique=True),
    Column("site", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("satisfaction", SmallInteger, nullable=False),
    Column("contact", String(100), nullable=False),
    Column("note", Text, nullable=False),
    Column("complaint_ticket_id", _BIG_ID),
    Index("ix_ticket_followups_site_at", "site", "at"),
)

ticket_streaks = Table(
    "ticket_streaks", metadata,
    *_item_key(primary_key=True),
    Column("bad_count", Integer, nullable=False),
    Column("good_count", Integer, nullable=False),
    Column("level", SmallInteger),
    Column("recent", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- service archive and web sessions (collector/archive.py, collector/web) ----
# ``archive_entries`` is append-only: a service visit, remote session, phone
# call, change or upgrade an engineer logged for a site.  A correction is a new
# entry whose ``corrects_id`` names the entry it replaces; the unique
# constraint lets each entry be corrected once (correct the correction to
# change it again).  ``web_sessions`` holds the people's browser sessions by
# the SHA-256 of the session id only; the cookie carries the id itself.

archive_entries = Table(
    "archive_entries", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("host", String(64)),
    Column("kind", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("phenomenon", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("parts", Text, nullable=False),
    Column("version", String(255), nullable=False),
    Column("signer", String(128), nullable=False),
    Column("ticket_id", _BIG_ID),
    Column("corrects_id", _BIG_ID, ForeignKey("archive_entries.id"), unique=True),
    Column("engineer", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_archive_entries_site_at", "site", "at"),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_web_sessions_expires_at", "expires_at"),
)

# --- inspection records (collector/records) ----------------------------------
# ``records`` holds each issued record's content as canonical JSON with the
# SHA-256 digest taken when it was issued; nothing updates a row after the
# transaction that issued it.  A
# scheduled record is issued once per (site, kind, period_start): the partial
# unique index ``uq_records_scheduled`` makes the second collector's INSERT
# do nothing.  ``record_signatures`` is append-only: each row is one
# sign-off with the digest the signer saw.  ``signature``/``key_id`` are the
# collector key's Ed25519 signature over every field (collector/records/integrity.py);
# NULL on rows stored before keyed signatures existed ("digest only").

records = Table(
    "records", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("period_from", String(10), nullable=False),
    Column("period_to", String(10), nullable=False),
    Column("language", String(8), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("issued_by", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("content", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("signature", Text),
    Column("key_id", String(16)),
    Index("uq_records_scheduled", "site", "kind", "period_start", unique=True,
          sqlite_where=text("origin = 'scheduled'"), postgresql_where=text("origin = 'scheduled'")),
    Index("ix_records_site_kind_from", "site", "kind", "period_from"),
)

record_signatures = Table(
    "record_signatures", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("record_id", _BIG_ID, ForeignKey("records.id"), nullable=False),
    Column("signer", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("signed_at", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("signed_by", String(64), nullable=False),
    Column("signature", Text),
    Column("key_id", String(16)),
    Index("ix_record_signatures_record_id", "record_id", "id"),
)

# --- the audit log (collector/audit.py) ----------------------------------------
# People's actions (logins, ticket actions, records issued and signed, tokens and
# users made), append-only and hash-chained: ``seq`` counts 1, 2, 3... without
# gaps, each row's ``hash`` is the SHA-256 of its fields and ``prev_hash`` (the
# previous row's hash), and ``signature`` is the collector key's Ed25519
# signature of the same bytes.  Appends are serialised (an advisory lock on
# PostgreSQL, BEGIN IMMEDIATE on SQLite); the unique ``seq`` backs that up.

audit_log = Table(
    "audit_log", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("target", String(128), nullable=False),
    Column("source", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", Text, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_target", "target"),
)

# --- the health probe (collector/health.py) -----------------------------------
# One row (id 1) that the health probe rewrites, while writes are failing, to
# learn whether the database stores again.

health_probe = Table(
    "health_probe", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("pad", LargeBinary, nullable=False),
)

# --- the fleet (collector/enrol.py, collector/inventory.py, collector/fleet.py) -------------
# ``enrol_keys``: site enrolment keys, stored by the SHA-256 of the key; ``uses`` counts up to
# ``max_uses`` under a row lock.  ``fleet_hosts`` is the inventory: every enrolled host (by key,
# or by ``token create``) with its roles and facts as JSON text; ``approved_at`` NULL means
# awaiting approval, ``retired_at`` set means it left records and silence rules.  ``hosts``
# (above) stays what reported; the inventory says what should.  ``fleet_versions`` holds every
# fleet file applied, newest = highest version; the version is the primary key, so two
# collectors applying at once cannot both become version N.

enrol_keys = Table(
    "enrol_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("roles", Text, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("max_uses", Integer, nullable=False),
    Column("uses", Integer, nullable=False),
    Column("approve", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

fleet_hosts = Table(
    "fleet_hosts", metadata,
    Column("site", String(64), primary_key=True),
    Column("host", String(64), primary_key=True),
    Column("roles", Text, nullable=False),
    Column("facts", Text, nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("enrolled_via", String(64), nullable=False),
    Column("approved_at", UTCDateTime),
    Column("retired_at", UTCDateTime),
)

fleet_versions = Table(
    "fleet_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UTCDateTime, nullable=False),
    Column("applied_by", String(64), nullable=False),
    Column("file", String(255), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("document", Text, nullable=False),
)

# --- site relays (collector/relays.py) --------------------------------------
# A relay forwards its site's agents' results with a token of its own (``wrr_``, hashed like
# an agent's).  Which relay carried which result lives beside the results, not in them:
# ``relay_batches`` (one row per batch or ferry bundle) and ``relay_results`` (result uid →
# batch), so the results table's own shape is nobody's concern here.  ``relay_bundles``
# holds the sequence numbers of ferry bundles imported, per relay: a bundle imported twice
# changes nothing, and a missing number is a gap.

relays = Table(
    "relays", metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("last_contact", UTCDateTime),
    Column("backlog", BigInteger),
    Column("version", String(64)),
    # the silence episode a "relay silent" ticket was opened for (the last_contact it saw)
    Column("silent_since", UTCDateTime),
    UniqueConstraint("site", "name", name="uq_relays_site_name"),
)

relay_batches = Table(
    "relay_batches", metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("relay_id", Integer, ForeignKey("relays.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("via", String(8), nullable=False),  # "http" or "bundle"
    Column("seq", BigInteger),  # the bundle's sequence number (via bundle)
    Column("results", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Index("ix_relay_batches_relay", "relay_id", "received_at"),
)

relay_results = Table(
    "relay_results", metadata,
    Column("uid", String(32), primary_key=True),
    Column("batch_id", _BIG_ID,
           ForeignKey("relay_batches.id", ondelete="CASCADE"), nullable=False),
)

relay_bundles = Table(
    "relay_bundles", metadata,
    Column("relay_id", Integer, ForeignKey("relays.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("file", String(255), nullable=False),
    Column("results", Integer, nullable=False),
    Column("held", Text),  # the hosts whose results were held back (site/host, one a line): migration 0020
)

# Ferry bundles refused whole (forged, corrupt, unknown relay): kept for the metrics and the log.
ferry_refused = Table(
    "ferry_refused", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("file", String(255), nullable=False),
    Column("reason", Text, nullable=False),
)
