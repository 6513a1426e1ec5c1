"""The watch's state store on a real PostgreSQL server: migrate, ingest, a pass, the reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.alerts import AlertPolicy, AlertStore
from serving.messages import MessageBook
from serving.watch.ingest import ingest_tables
from serving.watch.reads import at_risk_page, shipment_view
from serving.watch.store import StateStore
from serving.watch.watcher import Watcher
from training.scoring import score

pytestmark = [pytest.mark.serving, pytest.mark.postgres]


def test_the_watch_on_postgres_scores_like_batch_scoring(postgres_db, small_data, trained):
    tables = small_data.tables
    store = StateStore(postgres_db, "pg-key", tables.locale)
    report = ingest_tables(store, tables)
    counts = report.table().set_index(["table", "status"])["rows"]
    assert counts[("shipments", "accepted")] == len(tables.shipments)
    assert store.counts()["scan_events"] == len(tables.scan_events.drop_duplicates())

    as_of = small_data.now - pd.Timedelta(days=3)
    with AlertStore(postgres_db) as outbox:
        watcher = Watcher(
            store, trained.predictor, "stallguard/1", outbox, AlertPolicy(), MessageBook()
        )
        result = watcher.run_pass(as_of)
        assert result.alerts == outbox.counts()["pending"] > 0
    expected = score(trained.predictor, tables, as_of)
    page = at_risk_page(store, "en", limit=500)
    got = {i.shipment_id: i.risk for i in page.items}
    top = expected.head(len(got))
    np.testing.assert_allclose([got[s] for s in top["shipment_id"]], top["risk"], rtol=1e-9)
    view = shipment_view(store, top["shipment_id"].iloc[0], "ko")
    assert view is not None and view.timeline and view.history
    store.close()
