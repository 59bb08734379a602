//! The house rule of `docs/architecture.md`, checked: inside `src/`, a module imports only the
//! modules below it. The order is written once, in [`LAYERS`]; a change that makes a lower module
//! reach into a higher one (or into a sibling on its own layer) fails here, naming the file and
//! the line.
//!
//! What is read: every `crate::…` path in the code of each file (`use` lines and paths in
//! expressions), with comments and the code after a file's `#[cfg(test)]` test module left out
//! (test code may use anything, for example `eval`'s ground truth). A name the crate root
//! re-exports (`crate::Index`, `use crate::{Error, Metric}`) counts as the module that defines it,
//! read from the `pub use` lines of `src/lib.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may import any module on a lower layer, none on its own
/// layer or above.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["simd"],
    &["distance", "fsutil"],
    &["base", "data"],
    &["quant", "rerank", "payload"],
    &["hnsw", "segment"],
    &["index"],
    &["collection"],
    &["eval"],
    &["fuzz_api", "sim"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/quant/sq.rs` → `quant`); `None` for the
/// crate root and the binaries.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main" && name != "bin").then(|| name.to_string())
}

/// Whether a file is test code as a whole (`tests.rs`, or inside a `tests/` folder).
fn is_test_file(src: &Path, file: &Path) -> bool {
    let rel = file.strip_prefix(src).unwrap_or(file);
    rel.components()
        .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs")
}

/// The code of a file, one entry per line: comments blanked, and nothing after the first
/// `#[cfg(test)]` that opens a `mod tests`.
fn code_lines(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("mod tests"))
        {
            break;
        }
        let code = match t.find("//") {
            Some(at) => &t[..at],
            None => t,
        };
        out.push(code.to_string());
    }
    out
}

/// The names the crate root re-exports, each with the module that defines it, from the
/// `pub use module::…::{A, B};` statements of `lib.rs`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_lines(lib).join("\n");
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(rest) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        let module = rest.split("::").next().unwrap_or("").trim().to_string();
        let names = match (rest.find('{'), rest.rfind('}')) {
            (Some(a), Some(b)) => rest[a + 1..b].to_string(),
            _ => rest.rsplit("::").next().unwrap_or("").to_string(),
        };
        for name in names.split(',') {
            let name = name.split(" as ").last().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.clone());
            }
        }
    }
    map
}

/// The crate modules a piece of code names: `crate::x::…` gives `x`; `crate::X` (a root
/// re-export) and each name of `crate::{A, b::C}` give their module.
fn referenced(code: &str, reexports: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `foocrate::`, not ours
        }
        let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|n| n.trim().split("::").next().unwrap_or("").trim().to_string())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![rest[..end].to_string()]
        };
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            match reexports.get(&name) {
                Some(module) => out.push(module.clone()),
                None => out.push(name),
            }
        }
    }
    out
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let reexports = root_reexports(&lib);
    assert!(
        reexports.get("Index").map(String::as_str) == Some("index"),
        "lib.rs re-exports were not read: {reexports:?}"
    );
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        if is_test_file(&src, file) {
            continue;
        }
        let layer = layer_of(&module).unwrap_or_else(|| {
            panic!(
                "{}: module `{module}` is not in LAYERS of tests/architecture.rs; give it a layer",
                file.display()
            )
        });
        let text = std::fs::read_to_string(file).expect("a source file");
        for (n, line) in code_lines(&text).iter().enumerate() {
            for target in referenced(line, &reexports) {
                if target == module || target == "self" {
                    continue;
                }
                checked += 1;
                match layer_of(&target) {
                    Some(l) if l < layer => {}
                    Some(l) => violations.push(format!(
                        "{}:{}: `{module}` (layer {layer}) imports `{target}` (layer {l}): {}",
                        file.strip_prefix(root).unwrap_or(file).display(),
                        n + 1,
                        line.trim()
                    )),
                    None => violations.push(format!(
                        "{}:{}: `{module}` names `crate::{target}`, a module not in LAYERS",
                        file.strip_prefix(root).unwrap_or(file).display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports found: is the parser broken?"
    );
    assert!(
        violations.is_empty(),
        "imports that point up or sideways (the order is LAYERS in tests/architecture.rs; \
         docs/architecture.md explains it):\n{}",
        violations.join("\n")
    );
}

/// The checker itself finds what it should: an upward `use`, a root re-export used from below,
/// a grouped import, and nothing in comments or test modules.
#[test]
fn the_checker_sees_upward_imports_and_ignores_comments_and_tests() {
    let reexports = root_reexports("pub use index::{Index, SearchParams};\npub use error::Error;");
    assert_eq!(reexports.get("Index").map(String::as_str), Some("index"));
    assert_eq!(reexports.get("Error").map(String::as_str), Some("error"));
    assert_eq!(
        referenced("use crate::index::Index;", &reexports),
        ["index"]
    );
    assert_eq!(
        referenced("let x = crate::Index::new(o);", &reexports),
        ["index"]
    );
    assert_eq!(
        referenced("use crate::{Error, base::view::RowView};", &reexports),
        ["error", "base"]
    );
    let code = code_lines(
        "use crate::base::x; // crate::index\n#[cfg(test)]\nmod tests {\n    use crate::eval;\n}",
    );
    let found: Vec<String> = code
        .iter()
        .flat_map(|l| referenced(l, &reexports))
        .collect();
    assert_eq!(found, ["base"]);
    assert!(layer_of("quant") < layer_of("hnsw"));
    assert_eq!(layer_of("hnsw"), layer_of("segment"), "siblings");
}
