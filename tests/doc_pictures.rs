//! The walkthroughs' pictures and code excerpts stay true to the files:
//!
//! - every `docs/img/*.svg` is well-formed XML with an `<svg>` root, a
//!   `<title>` and a `<desc>` (its text for readers who cannot see it);
//! - every picture is referenced from a chapter, and every picture a
//!   chapter references exists;
//! - every picture label a chapter defines (`[fig-x]: img/x.svg`) is
//!   redefined for rustdoc in `src/docs.rs` as a `data:` URI made from
//!   `docs/img/x.svg.b64`, and that base64 file is the SVG's current
//!   encoding (`CORIO_BLESS=1 cargo test --test doc_pictures` rewrites the
//!   stale ones);
//! - every link of a chapter to a file (an example, a picture) is
//!   redefined for rustdoc in `src/docs.rs`, where the relative path would
//!   not resolve;
//! - every code excerpt marked `<!-- excerpt: path -->` is still the code
//!   of `path`, line for line (indentation aside);
//! - where `rsvg-convert` is installed, every picture renders
//!   (`docs/render-pictures.sh` does the same by hand).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pictures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(root().join("docs/img"))
        .expect("docs/img exists")
        .map(|entry| entry.expect("readable dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "svg"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no pictures in docs/img");
    out
}

fn chapters() -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = fs::read_dir(root().join("docs"))
        .expect("docs exists")
        .map(|entry| entry.expect("readable dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| {
            let text = fs::read_to_string(&path).expect("readable chapter");
            (path, text)
        })
        .collect();
    out.sort();
    out
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------
// A small XML well-formedness check (no dependency): balanced elements,
// quoted attributes, known entities, one root.
// ---------------------------------------------------------------------

/// Checks `text` is well-formed XML; returns the element names in order.
fn check_xml(text: &str) -> Result<Vec<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut roots = 0;
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        if stack.is_empty() && !rest[..lt].trim().is_empty() {
            return Err(format!("text outside the root: {:?}", &rest[..lt]));
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unterminated comment")?;
            rest = &after[end + 3..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("<?") {
            let end = after
                .find("?>")
                .ok_or("unterminated processing instruction")?;
            rest = &after[end + 2..];
            continue;
        }
        let gt = tag_end(rest).ok_or("unterminated tag")?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(closing) = tag.strip_prefix('/') {
            let closing = closing.trim();
            match stack.pop() {
                Some(open) if open == closing => {}
                Some(open) => return Err(format!("</{closing}> closes <{open}>")),
                None => return Err(format!("</{closing}> closes nothing")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.strip_suffix('/').unwrap_or(tag);
        let element = check_tag(tag)?;
        if stack.is_empty() {
            roots += 1;
        }
        elements.push(element.clone());
        if !self_closing {
            stack.push(element);
        }
    }
    check_text(rest)?;
    if !rest.trim().is_empty() {
        return Err(format!("text after the root: {rest:?}"));
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> is never closed"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(elements)
}

/// The index of the `>` ending the tag `s` starts with, skipping quoted
/// attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// Checks a start tag's name and attributes; returns the name.
fn check_tag(tag: &str) -> Result<String, String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.');
    let name_len = tag.find(|c: char| !is_name(c)).unwrap_or(tag.len());
    let name = &tag[..name_len];
    if name.is_empty() {
        return Err(format!("a tag without a name: <{tag}>"));
    }
    let mut rest = &tag[name_len..];
    let mut seen = BTreeSet::new();
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            return Ok(name.to_string());
        }
        if trimmed.len() == rest.len() {
            return Err(format!("<{name}>: attributes must be separated by space"));
        }
        let attr_len = trimmed.find(|c: char| !is_name(c)).unwrap_or(trimmed.len());
        let attr = &trimmed[..attr_len];
        if attr.is_empty() || !seen.insert(attr.to_string()) {
            return Err(format!(
                "<{name}>: bad or repeated attribute near {trimmed:?}"
            ));
        }
        let after = trimmed[attr_len..].trim_start();
        let after = after
            .strip_prefix('=')
            .ok_or(format!("<{name}>: {attr} has no value"))?
            .trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\''))
            .ok_or(format!("<{name}>: {attr}'s value is not quoted"))?;
        let value_end = after[1..]
            .find(quote)
            .ok_or(format!("<{name}>: {attr}'s value is not closed"))?;
        let value = &after[1..1 + value_end];
        if value.contains('<') {
            return Err(format!("<{name}>: '<' in {attr}'s value"));
        }
        check_text(value)?;
        rest = &after[value_end + 2..];
    }
}

/// Checks that every `&` in character data starts a known entity.
fn check_text(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let after = &rest[amp + 1..];
        let end = after.find(';').ok_or(format!("a bare '&' in {text:?}"))?;
        let entity = &after[..end];
        let known = matches!(entity, "lt" | "gt" | "amp" | "quot" | "apos")
            || entity
                .strip_prefix("#x")
                .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
            || entity
                .strip_prefix('#')
                .is_some_and(|dec| !dec.is_empty() && dec.chars().all(|c| c.is_ascii_digit()));
        if !known {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

#[test]
fn the_xml_check_catches_what_it_should() {
    assert!(check_xml("<svg a=\"1\"><g/><text>x &amp; y</text></svg>").is_ok());
    assert!(check_xml("<svg><g></svg>").is_err(), "unclosed");
    assert!(check_xml("<svg><g></h></svg>").is_err(), "mismatched");
    assert!(check_xml("<svg a=1></svg>").is_err(), "unquoted");
    assert!(
        check_xml("<svg a=\"1\" a=\"2\"></svg>").is_err(),
        "repeated"
    );
    assert!(check_xml("<svg>a & b</svg>").is_err(), "bare ampersand");
    assert!(check_xml("<svg></svg><svg></svg>").is_err(), "two roots");
}

#[test]
fn every_picture_is_well_formed_svg_with_a_title_and_a_description() {
    for path in pictures() {
        let text = fs::read_to_string(&path).expect("readable picture");
        let elements = check_xml(&text).unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
        assert_eq!(elements[0], "svg", "{}: the root is <svg>", name(&path));
        assert!(
            text.contains("xmlns=\"http://www.w3.org/2000/svg\""),
            "{}: needs the SVG namespace to render as an image",
            name(&path)
        );
        assert!(
            text.contains("viewBox=\""),
            "{}: needs a viewBox",
            name(&path)
        );
        for needed in ["title", "desc"] {
            assert!(
                elements.iter().any(|e| e == needed),
                "{}: needs a <{needed}>",
                name(&path)
            );
        }
    }
}

/// `(chapter, picture)` for every `img/NAME.svg` a chapter mentions.
fn references() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, text) in chapters() {
        for (i, _) in text.match_indices("img/") {
            let rest = &text[i + 4..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(rest.len());
            let file = rest[..end].trim_end_matches('.');
            if file.ends_with(".svg") {
                out.push((name(&path), file.to_string()));
            }
        }
    }
    out
}

#[test]
fn every_picture_is_referenced_and_every_reference_exists() {
    let refs = references();
    let referenced: BTreeSet<&str> = refs.iter().map(|(_, file)| file.as_str()).collect();
    for path in pictures() {
        assert!(
            referenced.contains(name(&path).as_str()),
            "docs/img/{} is not referenced from any chapter",
            name(&path)
        );
    }
    for (chapter, file) in &refs {
        assert!(
            root().join("docs/img").join(file).is_file(),
            "{chapter} references img/{file}, which does not exist"
        );
    }
}

/// Standard base64 (RFC 4648), padded.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn rustdoc_gets_every_picture_as_a_current_data_uri() {
    let docs_rs = fs::read_to_string(root().join("src/docs.rs")).expect("src/docs.rs");
    let bless = std::env::var_os("CORIO_BLESS").is_some();
    let mut stale = Vec::new();
    for (chapter, text) in chapters() {
        for line in text.lines() {
            // A picture label, as the chapters define them for the
            // repository page: `[fig-x]: img/x.svg`.
            let Some((label, target)) = line.split_once("]: img/") else {
                continue;
            };
            let Some(label) = label.strip_prefix('[') else {
                continue;
            };
            let svg = target.trim();
            let expected = format!(
                "#[doc = concat!(\"[{label}]: data:image/svg+xml;base64,\", include_str!(\"../docs/img/{svg}.b64\"))]"
            );
            // The path page is the `docs` module's own page: an inner
            // attribute there.
            let inner = expected.replacen("#[doc", "#![doc", 1);
            assert!(
                docs_rs.contains(&expected) || docs_rs.contains(&inner),
                "{}: src/docs.rs needs, above the chapter's module:\n{expected}",
                name(&chapter)
            );
            let svg_path = root().join("docs/img").join(svg);
            let encoded = base64(&fs::read(&svg_path).expect("the picture exists"));
            let b64_path = root().join("docs/img").join(format!("{svg}.b64"));
            if fs::read_to_string(&b64_path).ok().as_deref() != Some(encoded.as_str()) {
                if bless {
                    fs::write(&b64_path, &encoded).expect("writable docs/img");
                } else {
                    stale.push(format!("docs/img/{svg}.b64"));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale (rewrite with CORIO_BLESS=1 cargo test --test doc_pictures): {stale:?}"
    );
}

/// The `#[doc = ..]` lines just above the module that includes `chapter`
/// in `src/docs.rs` (where its rustdoc-only link definitions go).
fn rustdoc_definitions(docs_rs: &str, chapter: &str) -> Vec<String> {
    // A chapter is included by an outer attribute on its module; the path
    // page (`README.md`) is the `docs` module's own page, an inner one.
    let outer = format!("#[doc = include_str!(\"../docs/{chapter}\")]");
    let inner = format!("#![doc = include_str!(\"../docs/{chapter}\")]");
    let lines: Vec<&str> = docs_rs.lines().collect();
    let Some(at) = lines
        .iter()
        .position(|l| l.trim() == outer || l.trim() == inner)
    else {
        return Vec::new();
    };
    lines[..at]
        .iter()
        .rev()
        .take_while(|l| {
            let l = l.trim_start();
            l.starts_with("#[doc = ") || l.starts_with("#![doc = ")
        })
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn every_relative_link_of_a_chapter_is_redefined_for_rustdoc() {
    // A chapter's link to a file (`../examples/x.rs`, `img/x.svg`) works on
    // the repository page only; rustdoc needs the label defined first in
    // src/docs.rs (an intra-doc link or a data URI).
    let docs_rs = fs::read_to_string(root().join("src/docs.rs")).expect("src/docs.rs");
    for (chapter, text) in chapters() {
        let defined = rustdoc_definitions(&docs_rs, &name(&chapter));
        for line in text.lines() {
            let Some((label, target)) = line.split_once("]: ") else {
                continue;
            };
            let Some(label) = label.strip_prefix('[') else {
                continue;
            };
            if !(target.starts_with("../") || target.starts_with("img/")) {
                continue;
            }
            assert!(
                defined
                    .iter()
                    .any(|d| d.contains(&format!("\"[{label}]: "))),
                "{}: [{label}]: {target} needs a definition for rustdoc above the \
                 chapter's module in src/docs.rs",
                name(&chapter)
            );
        }
        let inline = text
            .lines()
            .find(|l| l.contains("](../") || l.contains("](img/"));
        assert!(
            inline.is_none(),
            "{}: an inline link to a file breaks in rustdoc; use a label: {}",
            name(&chapter),
            inline.unwrap_or_default()
        );
    }
}

#[test]
fn every_example_page_shows_an_existing_example() {
    let docs_rs = fs::read_to_string(root().join("src/docs.rs")).expect("src/docs.rs");
    for (i, _) in docs_rs.match_indices("crate::docs::examples::") {
        let rest = &docs_rs[i + "crate::docs::examples::".len()..];
        let module: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            docs_rs.contains(&format!("pub mod {module} {{}}")),
            "src/docs.rs links examples::{module}, which has no page"
        );
    }
}

#[test]
fn every_excerpt_is_still_the_code() {
    let mut checked = 0;
    for (chapter, text) in chapters() {
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(source) = line
                .trim()
                .strip_prefix("<!-- excerpt: ")
                .and_then(|rest| rest.strip_suffix(" -->"))
            else {
                continue;
            };
            let fence = lines.next().unwrap_or_default();
            assert!(
                fence.starts_with("```"),
                "{}: the excerpt of {source} must follow its marker at once",
                name(&chapter)
            );
            let excerpt: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .map(str::trim)
                .collect();
            let code = fs::read_to_string(root().join(source))
                .unwrap_or_else(|e| panic!("{}: {source}: {e}", name(&chapter)));
            let code: Vec<&str> = code.lines().map(str::trim).collect();
            // `// …` on a line of its own marks lines left out.
            for piece in excerpt.split(|l| *l == "// …") {
                assert!(
                    code.windows(piece.len()).any(|w| w == piece),
                    "{}: this excerpt is no longer in {source}:\n{}",
                    name(&chapter),
                    piece.join("\n")
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "the excerpts of chapter 03 are checked");
}

#[test]
fn every_picture_renders_where_rsvg_convert_is_installed() {
    let Ok(status) = std::process::Command::new("rsvg-convert")
        .arg("--version")
        .output()
    else {
        eprintln!("rsvg-convert not installed: rendering not checked (docs/render-pictures.sh)");
        return;
    };
    assert!(status.status.success());
    let out = std::env::temp_dir().join(format!("corio-doc-pictures-{}", std::process::id()));
    fs::create_dir_all(&out).expect("a temp dir");
    for path in pictures() {
        let png = out.join(name(&path).replace(".svg", ".png"));
        let run = std::process::Command::new("rsvg-convert")
            .arg("-o")
            .arg(&png)
            .arg(&path)
            .output()
            .expect("rsvg-convert runs");
        assert!(
            run.status.success() && fs::metadata(&png).is_ok_and(|m| m.len() > 1000),
            "{} does not render: {}",
            name(&path),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    fs::remove_dir_all(&out).expect("temp dir removed");
}
