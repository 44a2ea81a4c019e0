//! Every statement in `queries/` and every SQL block in `docs/` parses with the real parser.

use std::path::{Path, PathBuf};

fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<_> = std::fs::read_dir(&root)
        .expect("folder exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    out.sort();
    out
}

#[test]
fn every_query_file_parses() {
    let queries = files("queries", "sql");
    assert!(!queries.is_empty());
    for path in queries {
        let text = std::fs::read_to_string(&path).expect("readable");
        if let Err(e) = ebb::sql::parse(&text) {
            panic!("{}", e.render(&text, &path.display().to_string()));
        }
    }
}

#[test]
fn every_sql_block_in_docs_parses() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let mut blocks = 0;
    for path in files("docs", "md").into_iter().chain([readme]) {
        let text = std::fs::read_to_string(&path).expect("readable");
        let mut in_block = false;
        let mut block = String::new();
        for line in text.lines() {
            if in_block && line.trim_start().starts_with("```") {
                in_block = false;
                blocks += 1;
                if let Err(e) = ebb::sql::parse(&block) {
                    panic!("{}", e.render(&block, &path.display().to_string()));
                }
                block.clear();
            } else if in_block {
                block.push_str(line);
                block.push('\n');
            } else if line.trim_start() == "```sql" {
                in_block = true;
            }
        }
    }
    assert!(blocks >= 5, "found only {blocks} SQL blocks");
}
