//! Incremental correctness of `RETAIN LATEST` and `RETAIN TOP`: after every INSERT statement,
//! each view equals a from-scratch computation over everything inserted so far, whatever the
//! DELAY and the number of workers, in one process or in two (timely's cluster mode, both
//! processes here on loopback).

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};
use proptest::prelude::*;

/// A row of `r (k BIGINT, v BIGINT, ts BIGINT)`.
type Row = (i64, i64, i64);

/// A small deterministic generator (splitmix64), so one proptest seed gives one data set.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `statements` batches of rows; batch `j` has times in `[j*1000, j*1000+999]`, shuffled,
/// with repeated times, repeated values and some exact duplicate rows.
fn generate(seed: u64, keys: u64, statements: usize, rows_per_statement: usize) -> Vec<Vec<Row>> {
    let mut rng = Rng(seed);
    let mut batches = Vec::new();
    for j in 0..statements {
        let mut batch: Vec<Row> = Vec::with_capacity(rows_per_statement);
        for _ in 0..rows_per_statement {
            if !batch.is_empty() && rng.below(20) == 0 {
                // An exact duplicate of a row of this statement.
                let again = batch[rng.below(batch.len() as u64) as usize];
                batch.push(again);
                continue;
            }
            let k = rng.below(keys) as i64;
            let v = rng.below(41) as i64 - 20;
            let ts = (j as i64) * 1000 + rng.below(1000) as i64;
            batch.push((k, v, ts));
        }
        // Fisher–Yates: rows out of time order within the statement.
        for i in (1..batch.len()).rev() {
            let at = rng.below(i as u64 + 1) as usize;
            batch.swap(i, at);
        }
        batches.push(batch);
    }
    batches
}

#[derive(Clone, Copy, Debug)]
enum Rule {
    Latest,
    TopDesc,
    TopAsc,
}

impl Rule {
    fn clause(self, n: u64, delay: u64) -> String {
        match self {
            Rule::Latest => format!("RETAIN LATEST {n} PER k DELAY {delay}"),
            Rule::TopDesc => format!("RETAIN TOP {n} PER k BY v DESC DELAY {delay}"),
            Rule::TopAsc => format!("RETAIN TOP {n} PER k BY v ASC DELAY {delay}"),
        }
    }

    /// The sort key: greater is better.
    fn rank(self, row: &Row) -> (i64, Row) {
        match self {
            Rule::Latest => (row.2, *row),
            Rule::TopDesc => (row.1, *row),
            // Smallest v first; ties still broken by the whole row, greatest first.
            Rule::TopAsc => (-row.1, *row),
        }
    }
}

/// Per key, the `n` best rows (with multiplicity), sorted.
fn expected(rows: &[Row], rule: Rule, n: u64) -> Vec<Row> {
    let mut sorted = rows.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| rule.rank(b).cmp(&rule.rank(a))));
    let mut out = Vec::new();
    let mut taken = 0;
    let mut key = None;
    for row in sorted {
        if key != Some(row.0) {
            key = Some(row.0);
            taken = 0;
        }
        if taken < n {
            out.push(row);
            taken += 1;
        }
    }
    out.sort();
    out
}

fn session(workers: usize) -> Session {
    Session::new(SessionOptions { workers, base_dir: ".".into(), ..SessionOptions::default() })
        .expect("session starts")
}

/// A session on process 0 of a two-process job of `workers` workers each; process 1 serves
/// from a thread of this one, over loopback, until the session ends.
fn two_process_session(workers: usize) -> (Session, std::thread::JoinHandle<ebb::Result<()>>) {
    use ebb::engine::ClusterOptions;
    use ebb::storage::spill::{SEGMENT_BYTES, Spill, SpillStore};
    let listeners: Vec<_> =
        (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    let addresses: Vec<String> =
        listeners.iter().map(|l| l.local_addr().expect("an address").to_string()).collect();
    drop(listeners);
    let other = ClusterOptions::new(addresses.clone(), 2, 1).expect("process 1");
    let serving = std::thread::spawn(move || {
        let spill = std::sync::Arc::new(Spill::new(SpillStore::Memory, None, SEGMENT_BYTES));
        ebb::session::serve_cluster(&other, workers, spill)
    });
    let cluster = ClusterOptions::new(addresses, 2, 0).expect("process 0");
    let session = Session::new(SessionOptions {
        workers,
        cluster: Some(cluster),
        base_dir: ".".into(),
        ..SessionOptions::default()
    })
    .expect("session starts");
    (session, serving)
}

fn insert_sql(rows: &[Row]) -> String {
    let values: Vec<String> = rows.iter().map(|(k, v, ts)| format!("({k}, {v}, {ts})")).collect();
    format!("INSERT INTO r VALUES {};", values.join(", "))
}

fn read_view(s: &mut Session, view: &str) -> Vec<Row> {
    let outputs = s.execute(&format!("SELECT * FROM {view};")).expect("read");
    let Some(Output::Rows { columns, rows }) = outputs.into_iter().next() else { panic!("no rows output") };
    assert_eq!(columns, ["k", "v", "ts"]);
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|row| match row.as_slice() {
            [Datum::Int(k), Datum::Int(v), Datum::Int(ts)] => (*k, *v, *ts),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    rows.sort();
    rows
}

struct Case {
    seed: u64,
    keys: u64,
    statements: usize,
    rows_per_statement: usize,
    n: u64,
    delays: [u64; 3],
    workers: usize,
    /// 1, or 2 for a job on two processes.
    processes: usize,
}

fn check(case: &Case) {
    let rules = [Rule::Latest, Rule::TopDesc, Rule::TopAsc];
    let (mut s, serving) = match case.processes {
        1 => (session(case.workers), None),
        _ => {
            let (s, serving) = two_process_session(case.workers);
            (s, Some(serving))
        }
    };
    s.execute("CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE;").unwrap();
    for (i, rule) in rules.iter().enumerate() {
        s.execute(&format!("CREATE VIEW w{i} AS SELECT * FROM r {};", rule.clause(case.n, case.delays[i])))
            .unwrap();
    }
    let mut seen = Vec::new();
    for (j, batch) in
        generate(case.seed, case.keys, case.statements, case.rows_per_statement).iter().enumerate()
    {
        s.execute(&insert_sql(batch)).unwrap();
        seen.extend_from_slice(batch);
        for (i, rule) in rules.iter().enumerate() {
            let got = read_view(&mut s, &format!("w{i}"));
            let want = expected(&seen, *rule, case.n);
            assert!(
                got == want,
                "{rule:?} n={} delay={} workers={} processes={} after statement {j}: got {} rows, \
                 want {}; first difference: got {:?} want {:?}",
                case.n,
                case.delays[i],
                case.workers,
                case.processes,
                got.len(),
                want.len(),
                got.iter().zip(&want).find(|(a, b)| a != b).map(|(a, _)| a).or(got.get(want.len())),
                got.iter().zip(&want).find(|(a, b)| a != b).map(|(_, b)| b).or(want.get(got.len())),
            );
        }
    }
    drop(s);
    if let Some(serving) = serving {
        serving.join().expect("process 1 ends").expect("process 1 ends cleanly");
    }
}

#[test]
fn reference_keeps_best_with_multiplicity_and_greatest_row_ties() {
    let rows = [(1, 5, 3), (1, 5, 3), (1, 5, 1), (1, -2, 2), (2, 7, 0)];
    assert_eq!(expected(&rows, Rule::TopAsc, 2), vec![(1, -2, 2), (1, 5, 3), (2, 7, 0)]);
    assert_eq!(expected(&rows, Rule::TopDesc, 2), vec![(1, 5, 3), (1, 5, 3), (2, 7, 0)]);
    assert_eq!(expected(&rows, Rule::Latest, 1), vec![(1, 5, 3), (2, 7, 0)]);
}

/// A small fixed case: a second statement whose rows beat the first's.
#[test]
fn second_statement_is_visible() {
    let mut s = session(1);
    s.execute(
        "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE;
         CREATE VIEW w AS SELECT * FROM r RETAIN TOP 2 PER k BY v ASC DELAY 1;
         INSERT INTO r VALUES (1, 5, 3), (1, 5, 1), (1, 5, 3), (1, -2, 2), (2, 7, 0);",
    )
    .unwrap();
    assert_eq!(read_view(&mut s, "w"), vec![(1, -2, 2), (1, 5, 3), (2, 7, 0)]);
    s.execute("INSERT INTO r VALUES (1, -2, 5);").unwrap();
    assert_eq!(read_view(&mut s, "w"), vec![(1, -2, 2), (1, -2, 5), (2, 7, 0)]);
}

/// One statement, one read: works today, and keeps the comparison itself honest.
#[test]
fn single_statement_matches_reference() {
    for workers in [1, 2] {
        let case = Case {
            seed: 7,
            keys: 150,
            statements: 1,
            rows_per_statement: 2000,
            n: 2,
            delays: [1, 10, 1000],
            workers,
            processes: 1,
        };
        check(&case);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn views_match_reference_after_every_statement(
        seed in any::<u64>(),
        keys in 100u64..400,
        statements in 3usize..6,
        rows_per_statement in 500usize..1200,
        n in 1u64..4,
        delays in prop::array::uniform3(prop::sample::select(vec![1u64, 10, 1000])),
        workers in 1usize..=2,
    ) {
        check(&Case { seed, keys, statements, rows_per_statement, n, delays, workers, processes: 1 });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, failure_persistence: None, .. ProptestConfig::default() })]

    /// The same, on two processes of one worker each: rows dealt across processes, reads
    /// gathered from both.
    #[test]
    fn views_match_reference_on_two_processes(
        seed in any::<u64>(),
        keys in 100u64..400,
        statements in 3usize..5,
        rows_per_statement in 300usize..800,
        n in 1u64..4,
        delays in prop::array::uniform3(prop::sample::select(vec![1u64, 10, 1000])),
    ) {
        check(&Case { seed, keys, statements, rows_per_statement, n, delays, workers: 1, processes: 2 });
    }
}
