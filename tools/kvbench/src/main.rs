//! redb vs fjall for Strata's metadata workload, on the same disk:
//! durable group-committed writes from 16 concurrent writers (each write
//! acknowledged only after fsync), point reads, and 1,000-key range pages
//! in a 1,000,000-key table.

use std::sync::mpsc;
use std::thread;
use std::time::Instant;

const WRITERS: usize = 16;
const WRITES: usize = 40_000;
const KEYS: usize = 1_000_000;
const VALUE: [u8; 400] = [7; 400];

trait Store: Send + Sync + 'static {
    /// Writes every pair in one atomic batch and returns after fsync.
    fn write_batch(&self, pairs: &[(Vec<u8>, Vec<u8>)]);
    /// Bulk load without per-batch fsync (set-up only).
    fn load(&self, pairs: &[(Vec<u8>, Vec<u8>)]);
    fn get(&self, key: &[u8]) -> bool;
    /// Reads `n` entries from `start`; returns how many it saw.
    fn page(&self, start: &[u8], n: usize) -> usize;
}

struct Redb(redb::Database);
const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("t");

impl Store for Redb {
    fn write_batch(&self, pairs: &[(Vec<u8>, Vec<u8>)]) {
        let txn = self.0.begin_write().unwrap();
        {
            let mut t = txn.open_table(TABLE).unwrap();
            for (k, v) in pairs {
                t.insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    fn load(&self, pairs: &[(Vec<u8>, Vec<u8>)]) {
        self.write_batch(pairs)
    }
    fn get(&self, key: &[u8]) -> bool {
        use redb::ReadableDatabase;
        let txn = self.0.begin_read().unwrap();
        txn.open_table(TABLE).unwrap().get(key).unwrap().is_some()
    }
    fn page(&self, start: &[u8], n: usize) -> usize {
        use redb::ReadableDatabase;
        let txn = self.0.begin_read().unwrap();
        let t = txn.open_table(TABLE).unwrap();
        t.range(start..).unwrap().take(n).map(|r| r.unwrap().1.value().len()).filter(|l| *l > 0).count()
    }
}

struct Fjall(fjall::Database, fjall::Keyspace);

impl Store for Fjall {
    fn write_batch(&self, pairs: &[(Vec<u8>, Vec<u8>)]) {
        let mut b = self.0.batch();
        for (k, v) in pairs {
            b.insert(&self.1, k.clone(), v.clone());
        }
        b.commit().unwrap();
        self.0.persist(fjall::PersistMode::SyncData).unwrap();
    }
    fn load(&self, pairs: &[(Vec<u8>, Vec<u8>)]) {
        let mut b = self.0.batch();
        for (k, v) in pairs {
            b.insert(&self.1, k.clone(), v.clone());
        }
        b.commit().unwrap();
    }
    fn get(&self, key: &[u8]) -> bool {
        self.1.get(key).unwrap().is_some()
    }
    fn page(&self, start: &[u8], n: usize) -> usize {
        self.1.range(start.to_vec()..).take(n).map(|g| g.into_inner().unwrap().1.len()).filter(|l| *l > 0).count()
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("bucket-name\0some/prefix/object-{i:010}").into_bytes()
}

/// Concurrent writers hand single writes to one committer thread, which
/// commits whatever is waiting as one durable batch: Strata's group commit.
fn group_commit(store: &'static dyn Store) -> f64 {
    let (tx, rx) = mpsc::channel::<((Vec<u8>, Vec<u8>), mpsc::Sender<()>)>();
    let committer = thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let pairs: Vec<_> = batch.iter().map(|(p, _)| p.clone()).collect();
            store.write_batch(&pairs);
            for (_, ack) in batch {
                let _ = ack.send(());
            }
        }
    });
    let start = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in (w..WRITES).step_by(WRITERS) {
                    let (ack, done) = mpsc::channel();
                    tx.send(((key(KEYS + i), VALUE.to_vec()), ack)).unwrap();
                    done.recv().unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    drop(tx);
    committer.join().unwrap();
    WRITES as f64 / secs
}

fn measure(name: &str, store: &'static dyn Store) {
    let t = Instant::now();
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(50_000) {
        let pairs: Vec<_> = chunk.iter().map(|&i| (key(i), VALUE.to_vec())).collect();
        store.load(&pairs);
    }
    let load = t.elapsed();
    let writes = group_commit(store);
    let t = Instant::now();
    let gets = 200_000;
    for i in 0..gets {
        assert!(store.get(&key((i * 7919) % KEYS)));
    }
    let get_rate = gets as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pages = 200;
    for p in 0..pages {
        assert_eq!(store.page(&key((p * 4999) % (KEYS - 1000)), 1000), 1000);
    }
    let page_ms = t.elapsed().as_secs_f64() * 1000.0 / pages as f64;
    println!(
        "{name:<6} load 1M: {:>6.1} s | durable group-commit writes (16 writers): {writes:>8.0} ops/s | point reads: {get_rate:>9.0} ops/s | 1,000-key page: {page_ms:.2} ms",
        load.as_secs_f64()
    );
}

fn main() {
    let dir = tempfile::tempdir_in(std::env::var("KVBENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let redb = Redb(redb::Database::create(dir.path().join("redb")).unwrap());
    measure("redb", Box::leak(Box::new(redb)));
    let db = fjall::Database::builder(dir.path().join("fjall")).open().unwrap();
    let ks = db.keyspace("t", fjall::KeyspaceCreateOptions::default).unwrap();
    measure("fjall", Box::leak(Box::new(Fjall(db, ks))));
}
