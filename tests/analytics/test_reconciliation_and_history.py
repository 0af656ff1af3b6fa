"""The lake against the event store: every stored event in the lake once (after the copies
at-least-once delivery makes), the same history from both, the same state at any moment;
and an S3 lake read through the same code as a local one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from analytics import fixed_lake
from pipeline.adapters.event_store import EventStore
from pipeline.analytics import history
from pipeline.analytics.athena import LocalAthena
from pipeline.analytics.lake import Lake
from pipeline.demo import run_demo
from pipeline.domain.order import Order, fold
from pipeline.local.endpoint import LocalEndpoint
from pipeline.sim.run import RunSpec, simulate


@pytest.mark.system  # runs the demo on the session's deployed local stack
def test_a_local_run_with_duplicates_injected_reconciles_with_the_store(cloud):
    # Firehose stores 20% of the records twice.
    report = run_demo(orders=20, seed=3, scenario="duplicates", cloud=cloud)
    assert report.lake_duplicates > 0 and report.lake_rows == report.events + report.lake_duplicates
    assert report.lake_matches_store  # per (order, sequence, event id): the same set


def test_a_simulated_run_with_duplicates_injected_reconciles(tmp_path):
    summary = simulate(
        RunSpec(
            rate_per_min=300,
            duration_s=30,
            drain_s=900,
            scenario="duplicates",
            lake_dir=str(tmp_path),
            seed=2,
        )
    )
    events = sum(summary["events"].values())
    with LocalAthena(Lake.open(str(tmp_path))) as athena:
        (total,) = athena.records("SELECT count(*) AS n FROM audit_events")
        (distinct,) = athena.records(
            "SELECT count(*) AS n FROM (SELECT DISTINCT event_id FROM audit_events)"
        )
        copies = athena.query("duplicate_events")
        assert total["n"] == summary["lake_rows"] > events == distinct["n"]
        assert (copies["copies"] - 1).sum() == total["n"] - events
        assert (copies["distinct_event_ids"] == 1).all()
        assert athena.query("audit_chain_breaks").empty


@pytest.fixture
def stored_and_lake(aws, stack, tmp_path):
    """The fixed lake's orders appended to the event store (moto) the way handlers do."""
    store = EventStore(aws.client("dynamodb"), stack.ref("EventsTable"))
    by_order = fixed_lake.write(tmp_path)
    for order_id, events in by_order.items():
        order = Order(order_id, customer_id=events[0].customer_id)
        for event in events:
            unsealed = event.model_copy(update={"prev_hash": None, "hash": None})
            (sealed,) = store.append(order, [unsealed])
            assert sealed == event  # the store seals to the same hash chain
            order = order.apply(sealed)
    with LocalAthena(Lake.open(str(tmp_path))) as athena:
        yield store, athena, by_order


def test_history_from_the_lake_and_from_the_store_agree(stored_and_lake):
    store, athena, by_order = stored_and_lake
    for order_id in by_order:
        from_store = history.from_store(store, order_id)
        assert history.from_lake(athena, order_id) == from_store  # A's copy counted once
        for event in from_store:  # the state just before and at each event
            for moment in (event.occurred_at - timedelta(milliseconds=1), event.occurred_at):
                expected = fold(from_store, order_id, as_of=moment)
                assert history.state_at(history.from_lake(athena, order_id), moment) == expected


def test_the_state_at_a_moment_is_what_the_order_was_then(stored_and_lake):
    _, athena, _ = stored_and_lake
    events = history.from_lake(athena, "order-B")
    placed = events[0].occurred_at
    assert history.state_at(events, placed).status == "PLACED"
    assert history.state_at(events, placed + timedelta(seconds=3)).status == "PAYMENT_CAPTURED"
    assert history.state_at(events, placed + timedelta(seconds=5)).status == "COMPENSATING"
    assert history.state_at(events, placed + timedelta(hours=1)).status == "CANCELLED"


@pytest.mark.system  # a local endpoint (moto server)
def test_an_s3_lake_reads_through_the_same_code_as_a_local_one(tmp_path, monkeypatch):
    fixed_lake.write(tmp_path)
    local = Lake.open(str(tmp_path))
    with LocalEndpoint() as endpoint:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
        )
        s3 = session.client("s3", endpoint_url=endpoint.url)
        s3.create_bucket(Bucket="audit-lake")
        for path in local.files():
            key = "audit/" + path[len(str(tmp_path)) + 1 :]
            s3.put_object(Bucket="audit-lake", Key=key, Body=Path(path).read_bytes())
        remote = Lake.open("s3://audit-lake/audit", session=session, endpoint_url=endpoint.url)
        assert len(remote.files()) == len(local.files()) == 2
        with LocalAthena(remote) as on_s3, LocalAthena(local) as on_disk:
            for name in on_disk.queries:
                assert on_s3.query(name).equals(on_disk.query(name)), name
        late = fixed_lake.DAY.replace(hour=11)
        assert [f.split("/")[-2] for f in remote.files(since=late)] == ["hour=11"]
        # a named profile, as `--profile` gives it: credentials from the shared file
        credentials = tmp_path / "credentials"
        credentials.write_text("[audit]\naws_access_key_id = a\naws_secret_access_key = b\n")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        by_profile = Lake.open(
            "s3://audit-lake/audit", profile="audit", region="us-east-1", endpoint_url=endpoint.url
        )
        assert by_profile.files() == remote.files()
