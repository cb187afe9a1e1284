//! The crawler demo's site: what `examples/site/http11.rs` answers for
//! each path, 60 pages and every way a page can fail.

use std::cell::RefCell;
use std::rc::Rc;

use super::site;

/// How many ordinary pages the demo site has (`/0` … `/N-1`).
const PAGES: usize = 60;

/// The demo site (what the server answers per path): 60 pages that link
/// to each other and to a few missing ones, and page 0 links to every way
/// a page can fail. `/flaky` answers 503 the first time only, so it needs
/// a second try. The 500-lines chapter crawls xkcd.com; this one needs no
/// internet.
pub fn demo_site() -> site::Site {
    use site::Reply;
    let flaky_hits = RefCell::new(0);
    Rc::new(move |path: &str| match path {
        "/boom" => Reply::Status(500, "the server broke\n".into()),
        "/reset" => Reply::Reset,
        "/stall" => Reply::Stall,
        "/cut" => Reply::Truncate("<html>half of this page</html>\n".into()),
        "/flaky" => {
            *flaky_hits.borrow_mut() += 1;
            if *flaky_hits.borrow() == 1 {
                Reply::Status(503, "busy, try again\n".into())
            } else {
                Reply::Page("<html>second time lucky</html>\n".into())
            }
        }
        "/old" => Reply::Redirect(301, "/1".into()),
        "/loop/a" => Reply::Redirect(302, "/loop/b".into()),
        "/loop/b" => Reply::Redirect(302, "/loop/a".into()),
        _ => match path.strip_prefix("/chain/") {
            // An endless chain of new URLs: only max_redirect stops it.
            Some(n) => match n.parse::<usize>() {
                Ok(n) => Reply::Redirect(302, format!("/chain/{}", n + 1)),
                Err(_) => Reply::Status(404, "no such link\n".into()),
            },
            None => demo_page(path),
        },
    })
}

/// Page `/n` of the demo site: links to three other pages and one that
/// does not exist; page 0 also to the failing pages and off-site.
fn demo_page(path: &str) -> site::Reply {
    let Some(n) = path.strip_prefix('/').and_then(|n| n.parse::<usize>().ok()) else {
        return site::Reply::Status(404, format!("no page at {path}\n"));
    };
    if n >= PAGES {
        return site::Reply::Status(404, format!("no page at {path}\n"));
    }
    let mut links: Vec<String> = [n * 2 + 1, n * 3 + 2, n + 7, PAGES + n]
        .iter()
        .map(|to| format!("/{}", to % (PAGES + 5)))
        .collect();
    if n == 0 {
        let failing = [
            "/boom", "/reset", "/stall", "/cut", "/flaky", "/old", "/loop/a", "/chain/0",
        ];
        links.extend(failing.map(String::from));
        links.push("http://example.invalid/".into());
    }
    let links: String = links
        .iter()
        .map(|to| format!("<a href=\"{to}\">{to}</a>\n"))
        .collect();
    site::Reply::Page(format!("<html><h1>page {n}</h1>\n{links}</html>\n"))
}
