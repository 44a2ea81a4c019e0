//! Every SQL block in `README.md` and `docs/` runs: the blocks of one page run in order, as
//! one script, in a session of their own whose relative paths start at `queries/` (as the
//! docs say). A block that shows an error on purpose is fenced as `sql fails`, and must fail.

use std::path::{Path, PathBuf};

use ebb::{Session, SessionOptions};

/// The SQL blocks of a Markdown page, each with whether it must fail.
fn sql_blocks(text: &str) -> Vec<(String, bool)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for line in text.lines() {
        let fence = line.trim_start();
        match current.as_mut() {
            Some(_) if fence.starts_with("```") => blocks.extend(current.take()),
            Some((block, _)) => {
                block.push_str(line);
                block.push('\n');
            }
            None if fence == "```sql" => current = Some((String::new(), false)),
            None if fence == "```sql fails" => current = Some((String::new(), true)),
            None => {}
        }
    }
    blocks
}

fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.push(root.join("README.md"));
    pages
}

#[test]
fn every_sql_block_in_the_docs_runs() {
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut ran = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("readable page");
        let name = page.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let mut session =
            Session::new(SessionOptions { base_dir: queries.clone(), ..SessionOptions::default() }).unwrap();
        for (block, fails) in sql_blocks(&text) {
            ran += 1;
            match (session.execute(&block), fails) {
                (Ok(_), false) | (Err(_), true) => {}
                (Ok(outputs), true) => {
                    panic!("{name}: this block should fail:\n{block}\nit gave {outputs:?}")
                }
                (Err(e), false) => panic!("{name}: a block fails:\n{}", e.render(&block, &name)),
            }
        }
    }
    assert!(ran >= 10, "found only {ran} SQL blocks");
}
