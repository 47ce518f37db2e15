//! The parent's model of what the database must hold, built from the
//! child's reports and checked against the reopened database.
//!
//! Each key is in one of these states: *committed* (acknowledged, or found
//! after a recovery), *forbidden* (deleted with an acknowledgement, or
//! attempted and found absent after a recovery: it must never appear), or
//! *pending* (attempted in the round that was just killed, no
//! acknowledgement). A recovery resolves every pending key to committed or
//! forbidden.
//!
//! A range delete `[start, end)` makes every key it covers forbidden once
//! acknowledged (later inserts into the range take new keys, so they are
//! committed keys of their own); pending at a kill, the keys it covers must
//! all be there or all be gone (one commit, atomic across the partitions
//! the range spans).

use std::collections::{BTreeMap, BTreeSet};

use tierdb::Db;

use crate::workload::{
    ACCOUNTS, INIT_KEY, INITIAL_BALANCE, Report, Transfer, account_key, insert_value,
};

#[derive(Default)]
pub struct Ledger {
    initialised: bool,
    init_pending: bool,
    inserted: BTreeSet<String>,
    insert_pending: BTreeSet<String>,
    delete_pending: BTreeSet<String>,
    /// A range delete without its acknowledgement, and the committed keys
    /// it covered when it began.
    range_delete_pending: Option<(String, String, BTreeSet<String>)>,
    transfers: BTreeMap<String, Transfer>,
    transfer_pending: BTreeMap<String, Transfer>,
    forbidden: BTreeSet<String>,
    /// Acknowledged commits seen in the current round.
    pub acks_this_round: u64,
    /// Acknowledged range deletes, and the committed keys they removed.
    pub range_deletes_acked: u64,
    pub range_deleted_keys: u64,
}

/// The keys of `set` in `[start, end)`.
fn in_range(set: &BTreeSet<String>, start: &str, end: &str) -> BTreeSet<String> {
    if start >= end {
        return BTreeSet::new();
    }
    set.range(start.to_string()..end.to_string())
        .cloned()
        .collect()
}

/// What one check covered.
#[derive(Default, Debug)]
pub struct Checked {
    pub keys: u64,
    pub pending_found: u64,
    pub pending_lost: u64,
}

impl Ledger {
    /// Takes in one report line of the running round.
    pub fn apply(&mut self, report: &Report) -> Result<(), String> {
        match report {
            Report::BeginInit => self.init_pending = true,
            Report::AckInit => {
                self.initialised = true;
                self.acks_this_round += 1;
            }
            Report::BeginInsert(k) => {
                if self.inserted.contains(k) || self.forbidden.contains(k) {
                    return Err(format!("the child reused key {k}"));
                }
                self.insert_pending.insert(k.clone());
            }
            Report::AckInsert(k) => {
                self.insert_pending.remove(k);
                self.inserted.insert(k.clone());
                self.acks_this_round += 1;
            }
            Report::BeginDelete(k) => {
                if !self.inserted.contains(k) {
                    return Err(format!("the child deletes {k}, which it never committed"));
                }
                self.delete_pending.insert(k.clone());
            }
            Report::AckDelete(k) => {
                self.delete_pending.remove(k);
                self.inserted.remove(k);
                self.forbidden.insert(k.clone());
                self.acks_this_round += 1;
            }
            Report::BeginDeleteRange(start, end) => {
                let covered = in_range(&self.inserted, start, end);
                self.range_delete_pending = Some((start.clone(), end.clone(), covered));
            }
            Report::AckDeleteRange(start, end) => {
                match self.range_delete_pending.take() {
                    Some((s, e, _)) if (&s, &e) == (start, end) => {}
                    _ => {
                        return Err(format!(
                            "ack of range delete {start}..{end} without a begin"
                        ));
                    }
                }
                // Whatever was inserted up to the acknowledgement is gone.
                let covered = in_range(&self.inserted, start, end);
                self.range_deletes_acked += 1;
                self.range_deleted_keys += covered.len() as u64;
                for key in covered {
                    self.inserted.remove(&key);
                    self.forbidden.insert(key);
                }
                self.acks_this_round += 1;
            }
            Report::BeginTransfer(k, t) => {
                self.transfer_pending.insert(k.clone(), *t);
            }
            Report::AckTransfer(k) => {
                let t = self
                    .transfer_pending
                    .remove(k)
                    .ok_or_else(|| format!("ack of transfer {k} without a begin"))?;
                self.transfers.insert(k.clone(), t);
                self.acks_this_round += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// Compares the reopened database with the model; on success resolves
    /// every pending operation by what recovery found.
    pub fn check(&mut self, db: &Db) -> Result<Checked, Vec<String>> {
        let mut errors = Vec::new();
        let all = read_all(db).map_err(|e| vec![e])?;
        let mut checked = Checked {
            keys: all.len() as u64,
            ..Checked::default()
        };
        let found = |key: &str| all.get(key.as_bytes());

        // Initialisation: all accounts and the marker, or none of them.
        let init_found = found(std::str::from_utf8(INIT_KEY).unwrap_or_default()).is_some();
        if self.initialised && !init_found {
            errors.push("lost the acknowledged initialisation".into());
        }
        if !init_found && !self.init_pending && !all.is_empty() {
            errors.push(format!(
                "{} keys in a database never initialised",
                all.len()
            ));
        }

        // Transfers: acknowledged ones present with their values; present
        // ones known; balances exactly the initial ones plus every present
        // transfer (atomicity across partitions), hence the sum kept.
        let mut balances = vec![INITIAL_BALANCE; ACCOUNTS];
        for (key, value) in all.range(b"x/".to_vec()..b"x0".to_vec()) {
            let key = String::from_utf8_lossy(key).into_owned();
            let value = String::from_utf8_lossy(value);
            let known = self.transfers.get(&key).or(self.transfer_pending.get(&key));
            match (Transfer::decode(&value), known) {
                (Some(t), Some(k)) if t == *k => {
                    balances[t.from] -= t.amount;
                    balances[t.to] += t.amount;
                }
                (_, None) if self.forbidden.contains(&key) => {
                    errors.push(format!("transfer {key} resurrected"));
                }
                (_, None) => errors.push(format!("transfer {key} was never written")),
                (_, Some(k)) => errors.push(format!("transfer {key} holds {value}, wrote {k:?}")),
            }
        }
        for key in self.transfers.keys() {
            if found(key).is_none() {
                errors.push(format!("lost acknowledged transfer {key}"));
            }
        }
        if init_found {
            let mut sum = 0;
            for (n, expected) in balances.iter().enumerate() {
                let raw = all.get(&account_key(n));
                let got = raw.and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok());
                match got {
                    Some(got) if got == *expected => sum += got,
                    _ => errors.push(format!(
                        "account {n} holds {raw:?}, the transfers present give {expected}"
                    )),
                }
            }
            if errors.is_empty() && sum != INITIAL_BALANCE * ACCOUNTS as i64 {
                errors.push(format!("balances sum to {sum}"));
            }
        } else if all.keys().any(|k| k.starts_with(b"a/")) {
            errors.push("accounts without the initialisation marker".into());
        }

        // Inserts and deletes.
        for (key, value) in all.range(b"i/".to_vec()..b"i0".to_vec()) {
            let text = String::from_utf8_lossy(key).into_owned();
            if self.forbidden.contains(&text) {
                errors.push(format!("{text} resurrected (deleted or never committed)"));
            } else if !self.inserted.contains(&text) && !self.insert_pending.contains(&text) {
                errors.push(format!("{text} was never written"));
            } else if *value != insert_value(key) {
                errors.push(format!(
                    "{text} holds a wrong value of {} bytes",
                    value.len()
                ));
            }
        }
        let range_pending = self
            .range_delete_pending
            .as_ref()
            .map(|(_, _, covered)| covered);
        for key in &self.inserted {
            if found(key).is_none()
                && !self.delete_pending.contains(key)
                && !range_pending.is_some_and(|covered| covered.contains(key))
            {
                errors.push(format!("lost acknowledged insert {key}"));
            }
        }
        if let Some((start, end, covered)) = &self.range_delete_pending {
            let present = covered.iter().filter(|k| found(k).is_some()).count();
            if present != 0 && present != covered.len() {
                errors.push(format!(
                    "range delete {start}..{end} in flight at the kill is partial: \
                     {present} of its {} keys left",
                    covered.len()
                ));
            }
        }
        let unknown = all
            .keys()
            .filter(|k| !(k.starts_with(b"a/") || k.starts_with(b"i/") || k.starts_with(b"x/")))
            .filter(|k| k.as_slice() != INIT_KEY)
            .count();
        if unknown > 0 {
            errors.push(format!("{unknown} keys outside the key scheme"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        // Resolve what the killed round left pending.
        self.initialised = init_found;
        self.init_pending = false;
        for key in std::mem::take(&mut self.insert_pending) {
            let present = found(&key).is_some();
            checked.count(present);
            if present {
                self.inserted.insert(key);
            } else {
                self.forbidden.insert(key);
            }
        }
        for key in std::mem::take(&mut self.delete_pending) {
            let present = found(&key).is_some();
            checked.count(!present);
            if !present {
                self.inserted.remove(&key);
                self.forbidden.insert(key);
            }
        }
        if let Some((_, _, covered)) = self.range_delete_pending.take() {
            let applied = covered.iter().all(|k| found(k).is_none());
            if !covered.is_empty() {
                checked.count(applied);
            }
            if applied {
                for key in covered {
                    self.inserted.remove(&key);
                    self.forbidden.insert(key);
                }
            }
        }
        for (key, t) in std::mem::take(&mut self.transfer_pending) {
            let present = found(&key).is_some();
            checked.count(present);
            if present {
                self.transfers.insert(key, t);
            } else {
                self.forbidden.insert(key);
            }
        }
        self.acks_this_round = 0;
        Ok(checked)
    }
}

impl Checked {
    fn count(&mut self, happened: bool) {
        if happened {
            self.pending_found += 1;
        } else {
            self.pending_lost += 1;
        }
    }
}

/// Everything in the database, read forwards, cross-checked against a
/// backward scan and point reads.
fn read_all(db: &Db) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    let forward: BTreeMap<Vec<u8>, Vec<u8>> = db
        .range(..)
        .map_err(|e| format!("range: {e}"))?
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("scan: {e}"))?;
    let backward = db
        .range(..)
        .map_err(|e| format!("range: {e}"))?
        .rev()
        .count();
    if backward != forward.len() {
        return Err(format!(
            "forward scan found {} keys, backward {backward}",
            forward.len()
        ));
    }
    for (k, v) in forward.iter().step_by(17) {
        let got = db.get(k).map_err(|e| format!("get: {e}"))?;
        if got.as_deref() != Some(v.as_slice()) {
            return Err(format!(
                "get({}) disagrees with the scan",
                String::from_utf8_lossy(k)
            ));
        }
    }
    Ok(forward)
}
