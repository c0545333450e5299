"""The Store against a real PostgreSQL: idempotent writes, exact rows, typed errors."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest

from tests.service.store.conftest import APP_PASSWORD, make_settings
from triage_core.errors import ConfigError
from triage_core.result import StageError, TriageResult
from triage_core.service.store import (
    STATUSES,
    EmailRecord,
    Store,
    StoreError,
    StoreUnavailable,
)
from triage_ops.sandbox.postgres import PostgresServer


def result(
    message_id: str, *, category: str = "incident", summary: str = "Prod is down"
) -> TriageResult:
    return TriageResult(
        message_id=message_id,
        category=category,
        category_confidence=0.91234,
        priority="P0",
        priority_score=97,
        priority_reasons=["outage words"],
        summary=summary,
        needs_reply=True,
        draft="On it.",
        backend="embedded",
        degraded=False,
        timings_ms={"parse": 0.1234},
        errors=[StageError("respond", "none")],
        subject="Server down",
        sender="ops@example.com",
    )


def rows(url: str, sql: str = "SELECT count(*) FROM emails") -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


# -- enqueue -----------------------------------------------------------------------------


def test_enqueue_creates_a_queued_row_once(store: Store, database_url: str) -> None:
    email_id, created = store.enqueue("<a@example.com>")
    again_id, again_created = store.enqueue("<a@example.com>")
    assert (created, again_created) == (True, False)
    assert again_id == email_id
    assert str(uuid.UUID(email_id)) == email_id
    record = store.get(email_id)
    assert record is not None
    assert (record.message_id, record.status, record.attempts) == ("<a@example.com>", "queued", 0)
    assert (record.category, record.priority, record.summary, record.result) == (
        None,
        None,
        None,
        None,
    )
    assert record.created_at.tzinfo is not None
    assert record.processed_at is None
    assert rows(database_url) == [(1,)]


def test_concurrent_enqueue_of_one_message_id_gives_one_row(
    store: Store, database_url: str
) -> None:
    threads_per_id, ids = 8, [f"<race-{n}@example.com>" for n in range(10)]
    outcomes: list[tuple[str, str, bool]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads_per_id)

    def worker() -> None:
        for message_id in ids:
            barrier.wait(timeout=10)  # every thread inserts the same id at the same moment
            email_id, created = store.enqueue(message_id)
            with lock:
                outcomes.append((message_id, email_id, created))

    threads = [threading.Thread(target=worker) for _ in range(threads_per_id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == threads_per_id * len(ids)
    for message_id in ids:
        mine = [(e, c) for m, e, c in outcomes if m == message_id]
        assert len({e for e, _ in mine}) == 1  # every caller got the same row
        assert sum(c for _, c in mine) == 1  # exactly one of them created it
    assert rows(database_url) == [(len(ids),)]
    assert rows(database_url, "SELECT count(DISTINCT message_id) FROM emails") == [(len(ids),)]


def test_enqueue_rejects_an_empty_message_id_and_stores_nul_safely(store: Store) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        store.enqueue("")
    email_id, created = store.enqueue("<nul\x00@example.com>")
    record = store.get(email_id)
    assert created is True
    assert record is not None and record.message_id == "<nul\ufffd@example.com>"


# -- worker-side writes ------------------------------------------------------------------


def test_mark_processing_counts_attempts_and_spares_finished_rows(store: Store) -> None:
    first, _ = store.enqueue("<p1@example.com>")
    second, _ = store.enqueue("<p2@example.com>")
    store.mark_processing([first, second])
    store.mark_processing([first])
    store.save_results([(second, result("<p2@example.com>"))])
    store.mark_processing([first, second])  # a redelivery after the commit
    one, two = store.get(first), store.get(second)
    assert one is not None and two is not None
    assert (one.status, one.attempts) == ("processing", 3)
    assert (two.status, two.attempts) == ("processed", 1)
    store.mark_processing([])  # no-op, no query


def test_save_results_stores_the_result_and_keeps_the_first(store: Store) -> None:
    email_id, _ = store.enqueue("<s@example.com>")
    store.mark_processing([email_id])
    first = result("<s@example.com>")
    store.save_results([(email_id, first)])
    saved = store.get(email_id)
    assert saved is not None
    assert (saved.status, saved.category, saved.priority, saved.summary) == (
        "processed",
        "incident",
        "P0",
        "Prod is down",
    )
    assert saved.result == first.to_dict()
    assert saved.processed_at is not None and saved.processed_at >= saved.created_at
    # a replayed batch (redelivery after commit, before ack) changes nothing
    store.save_results([(email_id, result("<s@example.com>", category="spam", summary="x"))])
    assert store.get(email_id) == saved


def test_save_results_is_one_transaction(store: Store, database_url: str) -> None:
    good, _ = store.enqueue("<good@example.com>")
    bad, _ = store.enqueue("<bad@example.com>")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE emails ADD CONSTRAINT no_bad CHECK (category <> 'bad')")
    with pytest.raises(StoreError) as caught:
        store.save_results(
            [(good, result("<good@example.com>")), (bad, result("<b@x>", category="bad"))]
        )
    assert not isinstance(caught.value, StoreUnavailable)
    assert "no_bad" in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.errors.CheckViolation)
    statuses = rows(database_url, "SELECT status, count(*) FROM emails GROUP BY status")
    assert statuses == [("queued", 2)]  # the good one was rolled back with the bad one


def test_save_results_strips_nul_which_postgres_rejects(store: Store) -> None:
    email_id, _ = store.enqueue("<n@example.com>")
    store.save_results([(email_id, result("<n@example.com>", summary="a\x00b"))])
    saved = store.get(email_id)
    assert saved is not None and saved.result is not None
    assert saved.summary == "a\ufffdb"
    assert saved.result["summary"] == "a\ufffdb"


def test_save_results_of_a_real_pipeline_result_round_trips(store: Store) -> None:
    from triage_core import Pipeline

    raw = (
        b"Message-ID: <real@example.com>\r\nSubject: Invoice 42 overdue\r\n"
        b"From: billing@example.com\r\n\r\nPlease pay invoice 42 by Friday.\r\n"
    )
    triaged = Pipeline().triage(raw)
    email_id, _ = store.enqueue(triaged.message_id)
    store.save_results([(email_id, triaged)])
    saved = store.get(email_id)
    assert saved is not None
    assert saved.result == triaged.to_dict()
    assert saved.category == triaged.category and saved.priority == triaged.priority


def test_save_results_with_duplicates_in_a_batch_keeps_the_last(store: Store) -> None:
    email_id, _ = store.enqueue("<d@example.com>")
    store.save_results(
        [
            (email_id, result("<d@example.com>", summary="one")),
            (email_id, result("<d@example.com>", summary="two")),
        ]
    )
    saved = store.get(email_id)
    assert saved is not None and saved.summary == "two"
    store.save_results([])


def test_mark_failed_records_the_reason_but_never_overwrites_a_result(store: Store) -> None:
    failing, _ = store.enqueue("<f@example.com>")
    done, _ = store.enqueue("<ok@example.com>")
    store.save_results([(done, result("<ok@example.com>"))])
    store.mark_failed(failing, "bad payload " + "x" * 5000)
    store.mark_failed(done, "late failure")
    failed, processed = store.get(failing), store.get(done)
    assert failed is not None and processed is not None
    assert failed.status == "failed"
    assert failed.error is not None and len(failed.error) == 2000
    assert failed.error.startswith("bad payload x")
    assert (processed.status, processed.error) == ("processed", None)
    # a result that arrives after all (a redelivery) still wins
    store.save_results([(failing, result("<f@example.com>"))])
    recovered = store.get(failing)
    assert recovered is not None and (recovered.status, recovered.error) == ("processed", None)


def test_writes_reject_ids_that_are_not_uuids(store: Store) -> None:
    with pytest.raises(ValueError, match="not an email id"):
        store.mark_processing(["nope"])
    with pytest.raises(ValueError, match="not an email id"):
        store.mark_failed("nope", "x")


# -- reads -------------------------------------------------------------------------------


def test_get_unknown_or_malformed_id_is_none(store: Store) -> None:
    assert store.get(str(uuid.uuid4())) is None
    assert store.get("not-a-uuid") is None
    assert store.get("") is None


def test_status_counts_lists_every_status(store: Store) -> None:
    assert store.status_counts() == {"queued": 0, "processing": 0, "processed": 0, "failed": 0}
    ids = [store.enqueue(f"<c{n}@example.com>")[0] for n in range(6)]
    store.mark_processing(ids[:4])
    store.save_results([(ids[0], result("<c0@example.com>"))])
    store.mark_failed(ids[1], "boom")
    assert store.status_counts() == {"queued": 2, "processing": 2, "processed": 1, "failed": 1}
    assert tuple(store.status_counts()) == STATUSES


def test_list_emails_newest_first_and_by_status(store: Store) -> None:
    ids = [store.enqueue(f"<l{n}@example.com>")[0] for n in range(5)]
    store.mark_failed(ids[2], "boom")
    listed = store.list_emails(limit=3)
    assert [r.id for r in listed] == ids[::-1][:3]
    assert [r.id for r in store.list_emails(status="failed")] == [ids[2]]
    assert store.list_emails(status="processed") == []
    with pytest.raises(ValueError, match="unknown status"):
        store.list_emails(status="done")


def test_record_to_dict_is_json_ready(store: Store) -> None:
    email_id, _ = store.enqueue("<j@example.com>")
    record = store.get(email_id)
    assert isinstance(record, EmailRecord)
    data = record.to_dict()
    assert data["id"] == email_id and data["status"] == "queued"
    assert data["created_at"] == record.created_at.isoformat()
    assert data["processed_at"] is None


# -- read replica ------------------------------------------------------------------------


@pytest.fixture
def replica_url(postgres: PostgresServer) -> str:
    from triage_core.service.store import migrate

    url = postgres.create_database()
    migrate(url)
    return url


def test_reads_go_to_the_replica_and_writes_to_the_primary(
    database_url: str, replica_url: str
) -> None:
    with Store(make_settings(database_url, replica=replica_url)) as store:
        email_id, _ = store.enqueue("<r@example.com>")
        assert rows(database_url) == [(1,)]
        assert rows(replica_url) == [(0,)]
        # the "replica" holds its own version of the row: reads must return that one
        with psycopg.connect(replica_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO emails (id, message_id, status, summary)"
                " VALUES (%s, %s, 'processed', 'from the replica')",
                (email_id, "<r@example.com>"),
            )
        record = store.get(email_id)
        assert record is not None and record.summary == "from the replica"
        assert store.status_counts()["processed"] == 1  # the primary has it queued
        assert [r.summary for r in store.list_emails()] == ["from the replica"]
        # a row the replica has not caught up with yet is read from the primary
        fresh, _ = store.enqueue("<fresh@example.com>")
        late = store.get(fresh)
        assert late is not None and late.status == "queued"


def test_reads_fall_back_to_the_primary_when_the_replica_is_down(
    database_url: str, black_hole: int
) -> None:
    down = f"postgresql://triage:{APP_PASSWORD}@127.0.0.1:{black_hole}/x"
    with Store(make_settings(database_url, replica=down, timeout_s=1.0)) as store:
        email_id, _ = store.enqueue("<rd@example.com>")
        started = time.monotonic()
        record = store.get(email_id)  # one timeout on the replica, then the primary
        assert 0.9 <= time.monotonic() - started < 1.5
        assert record is not None and record.message_id == "<rd@example.com>"
        started = time.monotonic()
        assert store.status_counts()["queued"] == 1  # the replica is skipped for a while
        assert store.list_emails()[0].id == email_id
        assert time.monotonic() - started < 0.5


# -- availability and errors -------------------------------------------------------------


def test_ping_answers_on_a_live_server(store: Store) -> None:
    store.ping()


@pytest.fixture
def hung_store(black_hole: int) -> Iterator[Store]:
    url = f"postgresql://triage:{APP_PASSWORD}@127.0.0.1:{black_hole}/triage"
    store = Store(make_settings(url, timeout_s=1.0))
    store.open()  # must not wait for the server
    yield store
    store.close()


def test_ping_against_a_hung_server_fails_within_the_timeout(
    hung_store: Store, black_hole: int
) -> None:
    hung_port = black_hole
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        hung_store.ping()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.5
    assert str(caught.value).startswith(
        f"ping: PostgreSQL at 127.0.0.1:{hung_port}/triage unavailable:"
        " couldn't get a connection after 1.00 sec"
    )
    assert APP_PASSWORD not in f"{caught.value} {caught.value!r}"


def test_every_call_against_a_hung_server_is_bounded(hung_store: Store) -> None:
    for call in (
        lambda: hung_store.enqueue("<h@example.com>"),
        lambda: hung_store.get(str(uuid.uuid4())),
        hung_store.status_counts,
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            call()
        assert time.monotonic() - started < 1.5


def test_a_refused_connection_fails_fast_without_the_password(refused_port: int) -> None:
    url = f"postgresql://triage:{APP_PASSWORD}@127.0.0.1:{refused_port}/triage"
    with Store(make_settings(url, timeout_s=1.0)) as store:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store.enqueue("<x@example.com>")
        assert time.monotonic() - started < 1.5
    assert str(caught.value) == (
        f"enqueue: PostgreSQL at 127.0.0.1:{refused_port}/triage unavailable:"
        " couldn't get a connection after 1.00 sec; last attempt: connection failed:"
        f' connection to server at "127.0.0.1", port {refused_port} failed: Connection refused'
    )


def test_a_wrong_password_is_unavailable_and_not_echoed(postgres: PostgresServer) -> None:
    wrong = "Wr0ng-pass-77"
    url = postgres.url("postgres", password=wrong)
    with Store(make_settings(url, timeout_s=1.0)) as store, pytest.raises(StoreUnavailable) as c:
        store.ping()
    text = f"{c.value} {c.value!r}"
    assert wrong not in text and APP_PASSWORD not in text
    assert str(c.value).startswith(f"ping: PostgreSQL at 127.0.0.1:{postgres.port}/postgres ")
    assert str(c.value).endswith('password authentication failed for user "triage"')


def test_a_store_recovers_when_its_connections_die(store: Store, postgres: PostgresServer) -> None:
    email_id, _ = store.enqueue("<k@example.com>")
    with postgres.admin() as admin:  # what a PostgreSQL restart does to pooled connections
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = 'triage' AND pid <> pg_backend_pid()"
        )
    record = store.get(email_id)  # the pool's check replaces the dead connection
    assert record is not None and record.id == email_id


def test_store_lifecycle_errors() -> None:
    with pytest.raises(ConfigError, match="no database URL"):
        Store(make_settings("")).open()
    with pytest.raises(ConfigError, match="invalid database URL"):
        Store(make_settings("host=x password=a b")).open()
    closed = Store(make_settings("postgresql://u:p@127.0.0.1:1/x"))
    with pytest.raises(StoreUnavailable, match="the store is not open"):
        closed.ping()
    closed.close()  # closing a store never opened is fine


def test_settings_repr_hides_the_dsn(database_url: str) -> None:
    settings = make_settings(database_url)
    assert APP_PASSWORD not in repr(settings)
    assert APP_PASSWORD not in repr(replace(settings, database_replica_url=settings.database_url))
