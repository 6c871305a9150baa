//! A YAML document as a tree that remembers where each node stands, so every complaint about
//! `lookout.yaml` can name its line and column.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts in the file (1-based line and column).
/// `lookout.yaml` is malformed. Shown as `lookout.yaml:12:5: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{at}: {message}")]
pub struct FileError {
    /// The file.
    pub path: String,
    /// Where the problem is.
    pub at: Position,
    /// What it is, and the fix.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Position {
    fn of(mark: &Marker) -> Self {
        Position {
            line: mark.line(),
            column: mark.col() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One node of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where it starts.
    pub at: Position,
    /// What it holds.
    pub value: Value,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Nothing (`~`, `null`, or a key with no value).
    Null,
    /// A scalar, as written (quotes removed).
    Scalar(String),
    /// A list.
    List(Vec<Node>),
    /// A mapping, in the file's order; keys are unique.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key's text.
    pub name: String,
    /// Where it starts.
    pub at: Position,
}

impl Value {
    /// What kind of value this is, in words for an error message.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Scalar(_) => "a single value",
            Value::List(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A document that is not well-formed YAML, or uses what lookout does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the problem was found.
    pub at: Position,
    /// What it is.
    pub message: String,
}

/// The most nodes a document may hold: a configuration file is small, and a pathological one
/// must not exhaust memory.
const MAX_NODES: usize = 1_000_000;
/// The deepest nesting read (lookout's own keys go four levels deep).
const MAX_DEPTH: usize = 64;

/// Parses one document. An empty file is [`Value::Null`].
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        nodes: 0,
    };
    let mut document = None;
    loop {
        let (event, mark) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            event if document.is_none() => document = Some(reader.node(event, mark, 0)?),
            _ => {
                return Err(SyntaxError {
                    at: Position::of(&mark),
                    message: "a second YAML document (after ---): keep everything in one document"
                        .into(),
                });
            }
        }
    }
    Ok(document.unwrap_or(Node {
        at: Position { line: 1, column: 1 },
        value: Value::Null,
    }))
}

struct Reader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    nodes: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), SyntaxError> {
        self.parser.next_token().map_err(|e| SyntaxError {
            at: Position::of(e.marker()),
            message: format!("not valid YAML: {}", e.info()),
        })
    }

    fn node(&mut self, event: Event, mark: Marker, depth: usize) -> Result<Node, SyntaxError> {
        let at = Position::of(&mark);
        let refuse = |message: &str| SyntaxError {
            at,
            message: message.to_owned(),
        };
        self.nodes += 1;
        if self.nodes > MAX_NODES || depth > MAX_DEPTH {
            return Err(refuse(
                "the document is too large or too deeply nested to be a lookout configuration",
            ));
        }
        let value = match event {
            Event::Alias(_) => {
                return Err(refuse(
                    "anchors and aliases (*name) are not read: put shared settings in `defaults`",
                ));
            }
            Event::Scalar(text, style, anchor, _) => {
                if anchor != 0 {
                    return Err(refuse(
                        "anchors (&name) are not read: put shared settings in `defaults`",
                    ));
                }
                let null = style == TScalarStyle::Plain
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
                if null {
                    Value::Null
                } else {
                    Value::Scalar(text)
                }
            }
            Event::SequenceStart(anchor, _) => {
                if anchor != 0 {
                    return Err(refuse(
                        "anchors (&name) are not read: put shared settings in `defaults`",
                    ));
                }
                let mut items = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(event, mark, depth + 1)?);
                }
                Value::List(items)
            }
            Event::MappingStart(anchor, _) => {
                if anchor != 0 {
                    return Err(refuse(
                        "anchors (&name) are not read: put shared settings in `defaults`",
                    ));
                }
                let mut entries: Vec<(Key, Node)> = Vec::new();
                // Where each key was first given: a lookup per key, so a mapping of many keys is
                // read in linear time.
                let mut seen: HashMap<String, Position> = HashMap::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::MappingEnd {
                        break;
                    }
                    let key_node = self.node(event, mark, depth + 1)?;
                    let name = match key_node.value {
                        Value::Scalar(name) => name,
                        Value::Null => String::new(),
                        other => {
                            return Err(SyntaxError {
                                at: key_node.at,
                                message: format!(
                                    "a key is {}: keys are plain names like `url`",
                                    other.kind()
                                ),
                            });
                        }
                    };
                    if name == "<<" {
                        return Err(SyntaxError {
                            at: key_node.at,
                            message:
                                "merge keys (<<) are not read: put shared settings in `defaults`"
                                    .into(),
                        });
                    }
                    if let Some(first) = seen.get(&name) {
                        return Err(SyntaxError {
                            at: key_node.at,
                            message: format!(
                                "`{name}` is given twice in one mapping (first at line {}): keep one",
                                first.line
                            ),
                        });
                    }
                    seen.insert(name.clone(), key_node.at);
                    let (event, mark) = self.next()?;
                    let value = self.node(event, mark, depth + 1)?;
                    entries.push((
                        Key {
                            name,
                            at: key_node.at,
                        },
                        value,
                    ));
                }
                // A block mapping starts where its first key does.
                if let Some((first, _)) = entries.first() {
                    return Ok(Node {
                        at: first.at,
                        value: Value::Map(entries),
                    });
                }
                Value::Map(entries)
            }
            other => return Err(refuse(&format!("unexpected YAML event {other:?}"))),
        };
        Ok(Node { at, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let doc = parse("a: 1\nlist:\n  - x\n  - 'y'\n").unwrap();
        let Value::Map(entries) = doc.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.at, Position { line: 1, column: 1 });
        assert_eq!(entries[0].1.at, Position { line: 1, column: 4 });
        let Value::List(items) = &entries[1].1.value else {
            panic!("not a list")
        };
        assert_eq!(items[1].at, Position { line: 4, column: 5 });
        assert_eq!(items[1].value, Value::Scalar("y".into()));
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for (text, line, words) in [
            ("a: 1\na: 2\n", 2, "twice"),
            ("a: &x 1\nb: *x\n", 1, "anchors"),
            ("a: [1, 2\n", 2, "not valid YAML"),
            ("a: 1\n---\nb: 2\n", 3, "second YAML document"),
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(error.at.line, line, "{text:?}: {error:?}");
            assert!(error.message.contains(words), "{text:?}: {error:?}");
        }
        let deep = "[".repeat(200);
        assert!(parse(&deep).unwrap_err().message.contains("deeply"));
    }
}
