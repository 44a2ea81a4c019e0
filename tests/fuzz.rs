//! The fuzz target: scripts generated from the grammar (`grammar/ebb.ebnf`), mixed with
//! garbage, edge values and very long chains, run through `sql::is_complete`, `sql::parse` and
//! `Session::execute`. Nothing may panic or overflow the stack, no worker may stop on an
//! internal error, and every error must render with a line and a column.
//!
//! `cargo test --test fuzz` runs [`DEFAULT_CASES`] scripts, a few seconds' work, so CI runs it
//! on every push; `PROPTEST_CASES=5000 cargo test --release --test fuzz` searches longer.

use ebb::sql;
use ebb::{Session, SessionOptions};
use proptest::prelude::*;

/// Scripts per run unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 256;

/// Names that exist after the setup, and a few that do not.
const SETUP: &str = "
CREATE SOURCE r (k BIGINT, v BIGINT, note TEXT, ts BIGINT) TIME ts LATENESS 5;
CREATE SOURCE s (k BIGINT, d DOUBLE, ok BOOLEAN, ts BIGINT) TIME ts KEEP NONE;
CREATE VIEW w AS SELECT * FROM r RETAIN LATEST 2 PER k;
";
const RELATIONS: &[&str] = &["r", "s", "w", "v0", "v1", "nope", "\"R\"", "r2"];
const COLUMNS: &[&str] = &["k", "v", "note", "ts", "d", "ok", "r.k", "x", "\"k\""];

/// Integers at the edges: around zero, i64, u64, the bounds Ebb documents, and past them.
fn edge_uint() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..20).prop_map(|n| n.to_string()),
        Just("1000000".to_string()),
        Just("1000001".to_string()),
        Just("9223372036854775807".to_string()),
        Just("9223372036854775808".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("99999999999999999999999999".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        edge_uint(),
        Just("-9223372036854775808".to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        Just("1e308".to_string()),
        Just("1e999".to_string()),
        Just("'it''s'".to_string()),
        Just("''".to_string()),
        Just("'é'".to_string()),
        Just("TRUE".to_string()),
        Just("NULL".to_string()),
    ]
}

fn name(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

/// Expressions from the grammar's expression rules.
fn expr() -> BoxedStrategy<String> {
    let leaf = prop_oneof![literal(), name(COLUMNS)];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), name(BINARY), inner.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("NOT {a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("{a} IS NOT NULL")),
            (inner.clone(), name(TYPES)).prop_map(|(a, t)| format!("CAST({a} AS {t})")),
            (name(FUNCTIONS), prop::collection::vec(inner, 0..3))
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
        ]
    })
    .boxed()
}

const BINARY: &[&str] = &["AND", "OR", "=", "<>", "<", ">=", "+", "-", "*", "/", "%", "||"];
const TYPES: &[&str] = &["BIGINT", "DOUBLE", "TEXT", "BOOLEAN", "DECIMAL"];
const FUNCTIONS: &[&str] = &["count", "sum", "min", "max", "avg", "abs", "lower", "upper", "length", "nope"];

/// A flat chain long enough to cross the depth limit, sometimes.
fn chain() -> impl Strategy<Value = String> {
    (name(BINARY), prop_oneof![1usize..50, 250usize..260, Just(5_000usize)], name(COLUMNS))
        .prop_map(|(op, terms, term)| vec![term; terms].join(&format!(" {op} ")))
}

fn any_expr() -> BoxedStrategy<String> {
    prop_oneof![4 => expr(), 1 => chain()].boxed()
}

fn select() -> BoxedStrategy<String> {
    (
        prop::collection::vec(prop_oneof![Just("*".to_string()), any_expr()], 1..3),
        name(RELATIONS),
        prop::option::of(any_expr()),
        prop::option::of(any_expr()),
        prop::option::of(edge_uint()),
    )
        .prop_map(|(items, from, filter, group, limit)| {
            let mut text = format!("SELECT {} FROM {from}", items.join(", "));
            if let Some(filter) = filter {
                text.push_str(&format!(" WHERE {filter}"));
            }
            if let Some(group) = group {
                text.push_str(&format!(" GROUP BY {group}"));
            }
            if let Some(limit) = limit {
                text.push_str(&format!(" LIMIT {limit}"));
            }
            text
        })
        .boxed()
}

fn retain() -> BoxedStrategy<String> {
    let rule = prop_oneof![
        (edge_uint(), any_expr()).prop_map(|(n, per)| format!("LATEST {n} PER {per}")),
        (edge_uint(), any_expr(), any_expr())
            .prop_map(|(n, per, by)| format!("TOP {n} PER {per} BY {by} ASC")),
        (any_expr(), any_expr(), any_expr(), edge_uint()).prop_map(|(per, by, close, after)| format!(
            "WINNER PER {per} BY {by} CLOSE AT {close} FORGET AFTER {after}"
        )),
        Just("UNMATCHED".to_string()),
    ];
    (rule, prop::option::of(edge_uint()))
        .prop_map(|(rule, delay)| match delay {
            Some(delay) => format!("RETAIN {rule} DELAY {delay}"),
            None => format!("RETAIN {rule}"),
        })
        .boxed()
}

fn statement() -> BoxedStrategy<String> {
    // Each arm boxed: a union of unboxed arms builds its values in one huge stack frame.
    let create_source = (
        name(&["q", "r", "s2"]),
        name(TYPES),
        prop::option::of(edge_uint()),
        name(&["", " KEEP ALL", " KEEP NONE"]),
    )
        .prop_map(|(n, t, lateness, keep)| {
            let lateness = lateness.map(|l| format!(" LATENESS {l}")).unwrap_or_default();
            format!("CREATE SOURCE {n} (k {t}, ts BIGINT) TIME ts{lateness}{keep}")
        });
    let option = (name(&["keys", "rate", "duration_ms", "max_latency_ms", "colour"]), edge_uint());
    let create_generated =
        (name(&["sensors", "bids", "recvs", "tweets"]), prop::collection::vec(option, 0..4)).prop_map(
            |(kind, options)| {
                let options: Vec<String> = options.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                if options.is_empty() {
                    format!("CREATE SOURCE g FROM GENERATOR {kind}")
                } else {
                    format!("CREATE SOURCE g FROM GENERATOR {kind} ({})", options.join(", "))
                }
            },
        );
    let create_view = (name(&["v0", "v1", "w"]), select(), prop::option::of(retain()))
        .prop_map(|(n, q, rule)| format!("CREATE VIEW {n} AS {q} {}", rule.unwrap_or_default()));
    let insert = (name(RELATIONS), prop::collection::vec(prop::collection::vec(literal(), 1..5), 1..4))
        .prop_map(|(n, rows)| {
            let rows: Vec<String> = rows.iter().map(|r| format!("({})", r.join(", "))).collect();
            format!("INSERT INTO {n} VALUES {}", rows.join(", "))
        });
    // Views that bind, with edge values where the grammar takes numbers.
    let rule = prop_oneof![
        edge_uint().prop_map(|n| format!("LATEST {n} PER k")),
        (edge_uint(), name(&["ASC", "DESC"])).prop_map(|(n, order)| format!("TOP {n} PER k BY v {order}")),
    ];
    let sound_view = (
        name(&["v0", "v1"]),
        name(&["", " WHERE k > 1", " WHERE note IS NOT NULL"]),
        rule,
        prop::option::of(edge_uint()),
    )
        .prop_map(|(n, filter, rule, delay)| {
            let delay = delay.map(|d| format!(" DELAY {d}")).unwrap_or_default();
            format!("CREATE VIEW {n} AS SELECT * FROM r{filter} RETAIN {rule}{delay}")
        });
    let read =
        name(&["SELECT * FROM v0", "SELECT k, count(*) FROM v1 GROUP BY k", "SELECT * FROM w ORDER BY ts"]);
    // Rows that fit `r`, with edge values, so that rules and reads see data.
    let int = prop_oneof![
        8 => (0i64..50).prop_map(|n| n.to_string()),
        1 => edge_uint(),
        1 => Just("-1".to_string()),
        1 => Just("-9223372036854775808".to_string()),
    ];
    let note = name(&["'it''s'", "''", "'é'", "NULL", "'a;b'", "1"]);
    let row = (int.clone(), int.clone(), note, int)
        .prop_map(|(k, v, note, ts)| format!("({k}, {v}, {note}, {ts})"));
    let insert_r =
        prop::collection::vec(row, 1..6).prop_map(|rows| format!("INSERT INTO r VALUES {}", rows.join(", ")));
    let other = prop_oneof![
        edge_uint().prop_map(|t| format!("ADVANCE TO {t}")),
        name(RELATIONS).prop_map(|n| format!("EXPLAIN VIEW {n}")),
        name(&["SHOW SOURCES", "SHOW VIEWS", "SHOW STATS", "SHOW TABLES"]),
        (name(&["VIEW", "SOURCE"]), name(RELATIONS)).prop_map(|(k, n)| format!("DROP {k} IF EXISTS {n}")),
        edge_uint().prop_map(|n| format!("SET memory_budget = {n}")),
        name(&["SET memory_budget = 'unlimited'", "SET memory_budget = 'lots'", "SET colour = 1"]),
    ];
    // Garbage: tokens of the language in any order, and arbitrary text.
    let garbage = prop_oneof![
        prop::collection::vec(name(VOCABULARY), 1..12).prop_map(|words| words.join(" ")),
        "\\PC{0,40}",
    ];
    prop_oneof![
        create_source.boxed(),
        create_generated.boxed(),
        create_view.boxed(),
        sound_view.boxed(),
        read.boxed(),
        insert.boxed(),
        insert_r.boxed(),
        select().boxed(),
        other.boxed(),
        garbage.boxed(),
    ]
    .boxed()
}

const VOCABULARY: &[&str] = &[
    "CREATE",
    "SOURCE",
    "VIEW",
    "AS",
    "SELECT",
    "FROM",
    "WHERE",
    "RETAIN",
    "LATEST",
    "TOP",
    "PER",
    "BY",
    "(",
    ")",
    ",",
    "'",
    "\"",
    "/*",
    "--",
    "1",
    "r",
    "k",
    "*",
    "=",
    "INSERT",
    "INTO",
    "VALUES",
    "ADVANCE",
    "TO",
    "TIME",
    "GENERATOR",
    "UNION",
    "JOIN",
    "ON",
    "NULL",
    "-",
    ";",
];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// Run `text`: parsing is total, and an error carries a span that renders as line:column.
fn run(session: &mut Session, text: &str) {
    let _ = sql::is_complete(text);
    let _ = sql::parse(text);
    if let Err(e) = session.execute(text) {
        let rendered = e.render(text, "fuzz.sql");
        assert!(!e.message().contains("internal error"), "a bug: {rendered}for {text:?}");
        let span = e.span().unwrap_or_else(|| panic!("no span on {rendered}for {text:?}"));
        let at = format!("--> fuzz.sql:{}:{}\n", span.start.line, span.start.column);
        assert!(span.start.line >= 1 && rendered.contains(&at), "{rendered}for {text:?}");
    }
}

proptest! {
    // Shrinking is bounded too: every step starts a session.
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_script_panics_and_every_error_has_a_place(statements in prop::collection::vec(statement(), 1..12)) {
        let mut session = Session::new(SessionOptions::default()).expect("a session");
        session.execute(SETUP).expect("setup");
        // Each statement on its own (so that later ones run after earlier ones fail), then
        // all of them as one script.
        for text in &statements {
            run(&mut session, text);
        }
        run(&mut session, &statements.join(";\n"));
    }
}
