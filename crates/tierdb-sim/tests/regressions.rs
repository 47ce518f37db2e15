//! Engine bugs the simulation found, one test each, named after the bug.

use std::sync::Arc;

use tierdb::{Db, Isolation, SimVfs, TxnOptions};
use tierdb_sim::SIM_CONFIGS;

/// Found by seed 287 and most others: a transaction that wrote nothing
/// reported the latest commit's sequence instead of its snapshot's, so a
/// serializable read-only transaction claimed a place in the commit order
/// its reads did not come from.
#[test]
fn read_only_commit_reports_its_snapshot_seq() {
    let sim = Arc::new(SimVfs::new(1));
    let db = Db::open("db", SIM_CONFIGS[0].options(&sim)).unwrap();
    db.put(b"a", b"1").unwrap();
    let mut tx = db.begin_with(TxnOptions::default().isolation(Isolation::Serializable));
    assert_eq!(tx.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    let later = db.put(b"a", b"2").unwrap();
    let info = tx.commit().unwrap();
    assert_eq!(info.seq, later.seq - 1);
}

/// Found by the simulation after `Txn::delete_range` landed next to the
/// fix above: a transaction whose only write was a range delete took the
/// read-only path and committed nothing, though it reported success.
#[test]
fn a_transaction_whose_only_write_is_a_range_delete_commits_it() {
    let sim = Arc::new(SimVfs::new(2));
    let db = Db::open("db", SIM_CONFIGS[0].options(&sim)).unwrap();
    db.put(b"k/1", b"1").unwrap();
    db.put(b"k/2", b"2").unwrap();
    let mut tx = db.begin();
    tx.delete_range(&b"k/"[..]..&b"k0"[..]).unwrap();
    let info = tx.commit().unwrap();
    assert_eq!(info.seq, 3);
    assert_eq!(db.get(b"k/1").unwrap(), None);
    assert_eq!(db.range(..).unwrap().count(), 0);
}
