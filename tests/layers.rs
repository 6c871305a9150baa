//! The layers of `src/` point one way: each top-level module imports only from its own layer or
//! below, as `src/lib.rs` lists them, and no two modules import each other, directly or round about.
//! Test code (`#[cfg(test)]` items) may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers as `src/lib.rs` lists them: `//! 3. lifecycle: `alerting` — ...`.
fn layers(lib: &str) -> BTreeMap<String, usize> {
    let mut layers = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.strip_prefix("//! ") else {
            continue;
        };
        let Some((number, rest)) = rest.split_once(". ") else {
            continue;
        };
        let Ok(layer) = number.parse::<usize>() else {
            continue;
        };
        let modules = rest.split(" — ").next().unwrap_or_default();
        let modules = modules.split_once(": ").map_or("", |(_, m)| m);
        for module in modules.split(", ") {
            let module = module.trim().trim_matches('`');
            assert!(
                layers.insert(module.to_owned(), layer).is_none(),
                "{module} is in two layers"
            );
        }
    }
    layers
}

/// Text with comments and `#[cfg(test)]` items left out.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut skipping: Option<i64> = None;
    let mut pending_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if let Some(depth) = skipping.as_mut() {
            *depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if *depth <= 0 && (line.contains('}') || line.trim_end().ends_with(';')) {
                skipping = None;
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            pending_test = true;
            continue;
        }
        if pending_test {
            pending_test = false;
            let depth = line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if depth > 0 {
                skipping = Some(depth);
            }
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The top-level modules a file's code names through `crate::`.
fn imports(code: &str, known: &BTreeMap<String, usize>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, d::{e, f}}`: the first name of each item at the group's top.
            let (mut depth, mut items) = (0, vec![String::new()]);
            for c in group.chars() {
                match c {
                    '}' if depth == 0 => break,
                    ',' if depth == 0 => items.push(String::new()),
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if let Some(item) = items.last_mut() {
                    item.push(c);
                }
            }
            for item in items {
                let name: String = item
                    .trim_start_matches([',', ' ', '\n'])
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if known.contains_key(&name) {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if known.contains_key(&name) {
                found.insert(name);
            }
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a folder of src") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// Each top-level module and what its code imports from the others.
fn graph(src: &Path, known: &BTreeMap<String, usize>) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a name");
        let module = first.trim_end_matches(".rs");
        if module == "lib" || module == "bin" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a source file");
        let mut named = imports(&code_of(&text), known);
        named.remove(module);
        graph.entry(module.to_owned()).or_default().extend(named);
    }
    graph
}

/// Imports that point up a layer: (from, to).
fn upward(
    graph: &BTreeMap<String, BTreeSet<String>>,
    layers: &BTreeMap<String, usize>,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (from, names) in graph {
        for to in names {
            if layers[to] > layers[from] {
                found.push((from.clone(), to.clone()));
            }
        }
    }
    found
}

/// A cycle of imports, if any.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn every_module_imports_only_its_own_layer_or_below_and_none_round_about() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("src/lib.rs");
    let layers = layers(&lib);
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect();
    let listed: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(
        declared, listed,
        "every module of src/lib.rs is in exactly one layer of its doc comment"
    );
    let graph = graph(&root.join("src"), &layers);
    assert!(
        graph.values().map(BTreeSet::len).sum::<usize>() > 40,
        "the imports were read: {graph:?}"
    );
    let up = upward(&graph, &layers);
    assert!(
        up.is_empty(),
        "these modules import a layer above their own (pass the value down, or move the shared type down): {up:?}"
    );
    assert_eq!(cycle(&graph), None, "modules import each other round about");
}

#[test]
fn the_check_finds_an_upward_import_a_cycle_and_ignores_test_code() {
    let layers: BTreeMap<String, usize> = [("config", 1), ("checks", 2), ("notify", 4)]
        .into_iter()
        .map(|(m, l)| (m.to_owned(), l))
        .collect();
    let source = "use crate::config::Env;\nuse crate::{checks::{A, B}, notify};\n// crate::setup\n#[cfg(test)]\nmod tests {\n    use crate::notify::X;\n    fn f() { crate::notify::y() }\n}\n";
    let found = imports(&code_of(source), &layers);
    assert_eq!(
        found,
        ["checks", "config", "notify"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    let only_tests =
        "use crate::config::Env;\n#[cfg(test)]\nmod tests {\n    use crate::notify::X;\n}\n";
    assert_eq!(
        imports(&code_of(only_tests), &layers),
        BTreeSet::from(["config".to_owned()])
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("checks", vec!["config", "notify"]),
        ("notify", vec!["checks"]),
        ("config", vec![]),
    ]
    .into_iter()
    .map(|(m, to)| (m.to_owned(), to.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        upward(&graph, &layers),
        vec![("checks".to_owned(), "notify".to_owned())]
    );
    assert!(cycle(&graph).is_some_and(|c| c.contains(&"notify".to_owned())));
}
