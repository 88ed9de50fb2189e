//! The UI crate holds components and thin server functions only: SQL belongs to the services.
//! `cargo xtask test` fails when a query call appears under `app/src`.

use std::path::{Path, PathBuf};

/// Call paths that run SQL text; `sqlx::query` also covers `query_as`, `query_scalar` and the
/// `query!` macros.
const QUERY_CALLS: [&str; 2] = ["sqlx::query", "sqlx::raw_sql"];

/// One line that runs SQL.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub text: String,
}

/// The 1-based numbers of the lines of `source` that call a query function, comments aside.
pub fn query_lines(source: &str) -> Vec<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            QUERY_CALLS.iter().any(|c| code.contains(c))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// Every query call in the `.rs` files under `dir`, in path order.
pub fn scan(dir: &Path) -> std::io::Result<Vec<Finding>> {
    let mut files = Vec::new();
    collect_rust_files(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file)?;
        let lines: Vec<&str> = source.lines().collect();
        for line in query_lines(&source) {
            out.push(Finding {
                text: lines[line - 1].trim().to_string(),
                file: file.clone(),
                line,
            });
        }
    }
    Ok(out)
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_function_is_found_and_comments_are_not() {
        let source = "fn a() {\n\
                      let n: i64 = sqlx::query_scalar(\"SELECT 1\")\n\
                      // sqlx::query(\"in a comment\") is fine\n\
                      sqlx::query(\"DELETE FROM t\").execute(pool);\n\
                      let rows = sqlx::query_as::<_, (i32,)>(\"SELECT 1\");\n\
                      sqlx::raw_sql(\"VACUUM\");\n\
                      let pool: sqlx::PgPool = state.pool.clone();\n\
                      }\n";
        assert_eq!(query_lines(source), vec![2, 4, 5, 6]);
    }

    #[test]
    fn a_query_in_a_nested_module_of_the_scanned_folder_is_reported_with_its_place() {
        let dir = std::env::temp_dir().join(format!("xtask-no-sql-{}", std::process::id()));
        let nested = dir.join("pages/crm");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.join("lib.rs"), "pub mod pages;\n").unwrap();
        std::fs::write(
            nested.join("build.rs"),
            "use sqlx::PgConnection;\n\n    sqlx::query_as(\"SELECT id FROM users\")\n",
        )
        .unwrap();
        std::fs::write(nested.join("notes.md"), "sqlx::query in prose\n").unwrap();
        let found = scan(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found,
            vec![Finding {
                file: nested.join("build.rs"),
                line: 3,
                text: "sqlx::query_as(\"SELECT id FROM users\")".into(),
            }]
        );
    }
}
