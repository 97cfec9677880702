//! Request bodies in XML (CreateBucketConfiguration, Delete): parsed into a small element
//! tree with size limits; namespaces are dropped, names are local names.

use quick_xml::events::Event;

use super::error::S3Error;

/// The largest XML body accepted.
const MAX_BODY: usize = 2 * 1024 * 1024;
const MAX_DEPTH: usize = 16;

/// One element: its local name, its text and its child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }
}

fn malformed(message: impl Into<String>) -> S3Error {
    S3Error::MalformedXml(message.into())
}

/// Parses a whole document into its root element.
pub fn parse(body: &[u8]) -> Result<Element, S3Error> {
    if body.len() > MAX_BODY {
        return Err(malformed(format!(
            "the body is larger than {MAX_BODY} bytes"
        )));
    }
    let text = std::str::from_utf8(body).map_err(|_| malformed("the body is not utf-8"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|err| malformed(format!("at byte {}: {err}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(malformed("content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed("elements nested too deeply"));
                }
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let element = Element {
                    name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err(malformed("content after the root element")),
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                let decoded = text.decode().map_err(|err| malformed(err.to_string()))?;
                push_text(&mut stack, &decoded)?;
            }
            Event::CData(data) => {
                let decoded = data.decode().map_err(|err| malformed(err.to_string()))?;
                push_text(&mut stack, &decoded)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference
                            .decode()
                            .map_err(|err| malformed(err.to_string()))?;
                        match name.as_ref() {
                            "amp" => "&".to_owned(),
                            "lt" => "<".to_owned(),
                            "gt" => ">".to_owned(),
                            "quot" => "\"".to_owned(),
                            "apos" => "'".to_owned(),
                            other => return Err(malformed(format!("unknown entity &{other};"))),
                        }
                    }
                    Err(err) => return Err(malformed(err.to_string())),
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::DocType(_) => {
                return Err(malformed("document type declarations are not allowed"));
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(malformed("the document ended inside an element"));
    }
    root.ok_or_else(|| malformed("the body has no root element"))
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), S3Error> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_delete_request_with_entities() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b&#x20;c</Key></Object><Object><Key>x</Key><VersionId/></Object><Quiet>true</Quiet></Delete>"#;
        let root = parse(body).expect("parse");
        assert_eq!(root.name, "Delete");
        let keys: Vec<&str> = root
            .children_named("Object")
            .filter_map(|object| object.child("Key"))
            .map(|key| key.text.as_str())
            .collect();
        assert_eq!(keys, ["a&b c", "x"]);
        assert_eq!(root.child("Quiet").map(|q| q.text.as_str()), Some("true"));
    }

    #[test]
    fn rejects_broken_documents() {
        for body in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"<a/><b/>",
            b"text",
            b"<!DOCTYPE x><a/>",
            b"<a>&ent;</a>",
        ] {
            let err = parse(body).expect_err(&String::from_utf8_lossy(body));
            assert_eq!(err.code(), "MalformedXML");
        }
    }
}
