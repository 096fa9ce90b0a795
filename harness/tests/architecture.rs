//! The harness's layout, held to ARCHITECTURE.md: which room may use which, no
//! import circle between its files, a top level a newcomer reads in one step,
//! and a repository that cites nothing outside itself.
//!
//! Imports are read from the source as text (`crate::…`, `super::…`,
//! `harness::…`), which is how the layout is written: every path to another
//! module is spelled out, never glob-imported across rooms.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Each room of the harness and the rooms it may use. A room is a top-level
/// file or folder of `harness/src`; `main` is the binary.
const ROOMS: &[(&str, &[&str])] = &[
    ("console", &[]),
    ("tools", &[]),
    ("recording", &[]),
    ("cluster", &["console", "tools"]),
    ("clients", &["recording", "console", "tools"]),
    ("workload", &["clients", "recording"]),
    ("run_dir", &["console"]),
    (
        "commands",
        &[
            "cluster",
            "clients",
            "workload",
            "recording",
            "run_dir",
            "console",
        ],
    ),
    ("main", &["commands", "console"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file of the harness, by its module path (`clients::driver`;
/// `main` for the binary, `lib` for the crate root).
fn modules() -> BTreeMap<String, String> {
    let mut files = Vec::new();
    collect(&src(), &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(src()).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().map(String::as_str) == Some("mod") {
                parts.pop();
            }
            (parts.join("::"), fs::read_to_string(&path).unwrap())
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The code of a file without its `#[cfg(test)]` module and its comments:
/// tests may reach anywhere, and prose is not an import.
fn code(text: &str) -> String {
    let product = text.split("#[cfg(test)]").next().unwrap();
    product
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `module`'s code names, resolved against the known modules: the
/// longest known prefix of each `crate::`, `super::` or `harness::` path.
fn imports(module: &str, text: &str, known: &BTreeMap<String, String>) -> BTreeSet<String> {
    let code = code(text);
    let parent: Vec<&str> = match module.rsplit_once("::") {
        Some((parent, _)) => parent.split("::").collect(),
        None => Vec::new(),
    };
    let mut found = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("harness::", Vec::new()),
        ("super::", parent),
    ] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for target in paths_at(&code[at + prefix.len()..], &base) {
                if let Some(m) = longest_known(&target, known) {
                    if m != module {
                        found.insert(m);
                    }
                }
            }
        }
    }
    found
}

/// The module paths written at the start of `rest`, below `base`: one for a
/// plain path, one per leaf of a `{…}` use tree (nested to any depth).
fn paths_at(rest: &str, base: &[&str]) -> Vec<Vec<String>> {
    let base: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    use_tree(&mut rest.chars().peekable(), base, &mut out);
    out
}

/// One use tree: `a::b::c`, `a::{b, c::{d, e}}`, `self`; spaces and
/// newlines allowed between its parts.
fn use_tree(
    text: &mut std::iter::Peekable<std::str::Chars>,
    mut path: Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    loop {
        while text.next_if(|c| c.is_whitespace()).is_some() {}
        if text.next_if_eq(&'{').is_some() {
            'items: loop {
                use_tree(text, path.clone(), out);
                // Past a rename (`as x`) to the separator.
                for c in text.by_ref() {
                    match c {
                        ',' => continue 'items,
                        '}' => return,
                        _ => {}
                    }
                }
                return;
            }
        }
        let mut name = String::new();
        while let Some(c) = text.next_if(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
        }
        if !name.is_empty() && name != "self" {
            path.push(name);
        }
        if text.next_if_eq(&':').is_some() && text.next_if_eq(&':').is_some() {
            continue;
        }
        out.push(path);
        return;
    }
}

fn longest_known(path: &[String], known: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| known.contains_key(m))
}

fn room(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn every_room_uses_only_the_rooms_below_it() {
    let known = modules();
    let allowed: BTreeMap<&str, &[&str]> = ROOMS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, text) in &known {
        let from = room(module);
        if from == "lib" {
            continue;
        }
        let Some(may) = allowed.get(from) else {
            wrong.push(format!("{module}: room {from} is not in ARCHITECTURE.md"));
            continue;
        };
        for target in imports(module, text, &known) {
            let to = room(&target);
            if to != from && !may.contains(&to) {
                wrong.push(format!("{module} uses {target}: {from} may not use {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_file_imports_in_a_circle() {
    let known = modules();
    let graph: BTreeMap<String, BTreeSet<String>> = known
        .iter()
        .map(|(m, text)| (m.clone(), imports(m, text, &known)))
        .collect();
    // Depth-first search; a module met again on the current path closes a circle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut circle = path[at..].to_vec();
            circle.push(m.to_owned());
            return Some(circle);
        }
        if !done.insert(m.to_owned()) {
            return None;
        }
        path.push(m.to_owned());
        for next in &graph[m] {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(circle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
}

#[test]
fn the_top_level_reads_in_one_step() {
    let entries: Vec<String> = fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(entries.len() <= 10, "harness/src has {entries:?}");
    let rooms: BTreeSet<&str> = ROOMS.iter().map(|(r, _)| *r).collect();
    for entry in &entries {
        let name = entry.trim_end_matches(".rs");
        assert!(
            name == "lib" || rooms.contains(name),
            "harness/src/{entry} is no room of ARCHITECTURE.md"
        );
    }
}

/// The repository stands on its own: no file in it cites the design notes it
/// grew from, which live outside it.
#[test]
fn nothing_cites_a_design_file_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let outside = concat!("DESIGN", ".md");
    let mut citing = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_dir() {
                if !matches!(&*name, "target" | ".git" | "node_modules" | "runs") {
                    stack.push(path);
                }
            } else if fs::read_to_string(&path).is_ok_and(|t| t.contains(outside)) {
                citing.push(path.display().to_string());
            }
        }
    }
    assert!(citing.is_empty(), "{outside} cited in {citing:?}");
}
