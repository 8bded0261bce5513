//! The text panel: Markdown from the dashboard, rendered safely. The
//! markdown is parsed with `pulldown-cmark` into a small tree of known
//! elements ([`Node`]), which becomes DOM nodes; no HTML string is ever
//! handed to the browser. Raw HTML in the markdown is shown as text, and
//! links and images keep their address only if it is `http:`, `https:`,
//! `mailto:` or relative, so `javascript:` and `data:` never reach an
//! attribute.

use leptos::prelude::*;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag};

use super::Panel;
use super::options::option_str;

/// The elements a text panel can produce.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Code(String),
    Break,
    Rule,
    Element(Element, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Paragraph,
    Heading(u8),
    Quote,
    CodeBlock,
    List {
        ordered: Option<u64>,
    },
    Item,
    Emphasis,
    Strong,
    Strike,
    /// `href` is `None` when the address was not safe.
    Link {
        href: Option<String>,
    },
    Image {
        src: Option<String>,
    },
    Table,
    Head,
    Row,
    Cell,
}

/// Whether `url` may become an `href`/`src`: `http(s):`, `mailto:` or no
/// scheme at all (relative). Browsers ignore ASCII whitespace and control
/// characters inside a scheme (`java\tscript:`), so they are dropped before
/// looking.
pub fn safe_url(url: &str) -> bool {
    let compact: String = url.chars().filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control()).collect();
    let lower = compact.to_ascii_lowercase();
    match lower.find(':') {
        None => true,
        Some(colon) => {
            // A colon after a path, query or fragment start is not a scheme.
            if lower[..colon].contains(['/', '?', '#']) {
                return true;
            }
            matches!(&lower[..colon], "http" | "https" | "mailto")
        }
    }
}

/// Parses markdown (CommonMark with tables and strikethrough) into nodes.
pub fn parse(markdown: &str) -> Vec<Node> {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    // Open elements, innermost last; the root collects finished nodes.
    let mut stack: Vec<(Element, Vec<Node>)> = Vec::new();
    let mut root: Vec<Node> = Vec::new();
    fn push(stack: &mut [(Element, Vec<Node>)], root: &mut Vec<Node>, node: Node) {
        match stack.last_mut() {
            Some((_, children)) => children.push(node),
            None => root.push(node),
        }
    }
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(tag) => {
                let element = match tag {
                    Tag::Paragraph => Element::Paragraph,
                    Tag::Heading { level, .. } => Element::Heading(match level {
                        HeadingLevel::H1 => 1,
                        HeadingLevel::H2 => 2,
                        HeadingLevel::H3 => 3,
                        HeadingLevel::H4 => 4,
                        HeadingLevel::H5 => 5,
                        HeadingLevel::H6 => 6,
                    }),
                    Tag::BlockQuote(_) => Element::Quote,
                    Tag::CodeBlock(CodeBlockKind::Fenced(_) | CodeBlockKind::Indented) => Element::CodeBlock,
                    Tag::List(ordered) => Element::List { ordered },
                    Tag::Item => Element::Item,
                    Tag::Emphasis => Element::Emphasis,
                    Tag::Strong => Element::Strong,
                    Tag::Strikethrough => Element::Strike,
                    Tag::Link { dest_url, .. } => {
                        Element::Link { href: safe_url(&dest_url).then(|| dest_url.to_string()) }
                    }
                    Tag::Image { dest_url, .. } => {
                        Element::Image { src: safe_url(&dest_url).then(|| dest_url.to_string()) }
                    }
                    Tag::Table(_) => Element::Table,
                    Tag::TableHead => Element::Head,
                    Tag::TableRow => Element::Row,
                    Tag::TableCell => Element::Cell,
                    // Anything else (HTML blocks, footnotes, …) is a plain
                    // container whose text still shows.
                    _ => Element::Paragraph,
                };
                stack.push((element, Vec::new()));
            }
            Event::End(_) => {
                if let Some((element, children)) = stack.pop() {
                    push(&mut stack, &mut root, Node::Element(element, children));
                }
            }
            Event::Text(text) => push(&mut stack, &mut root, Node::Text(text.to_string())),
            Event::Code(code) => push(&mut stack, &mut root, Node::Code(code.to_string())),
            // Raw HTML is shown as the text it is.
            Event::Html(html) | Event::InlineHtml(html) => push(&mut stack, &mut root, Node::Text(html.to_string())),
            Event::SoftBreak => push(&mut stack, &mut root, Node::Text(" ".to_owned())),
            Event::HardBreak => push(&mut stack, &mut root, Node::Break),
            Event::Rule => push(&mut stack, &mut root, Node::Rule),
            Event::TaskListMarker(done) => {
                push(&mut stack, &mut root, Node::Text(if done { "☑ " } else { "☐ " }.to_owned()))
            }
            Event::FootnoteReference(name) => push(&mut stack, &mut root, Node::Text(format!("[{name}]"))),
            Event::InlineMath(m) | Event::DisplayMath(m) => push(&mut stack, &mut root, Node::Code(m.to_string())),
        }
    }
    // Unbalanced input cannot happen with pulldown-cmark, but never lose text.
    while let Some((element, children)) = stack.pop() {
        push(&mut stack, &mut root, Node::Element(element, children));
    }
    root
}

/// The plain text of nodes (an image's alt text).
fn plain(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| match n {
            Node::Text(t) | Node::Code(t) => t.clone(),
            Node::Element(_, c) => plain(c),
            Node::Break | Node::Rule => " ".to_owned(),
        })
        .collect()
}

/// A node as DOM: each element a fixed tag, text as text nodes.
pub fn render(node: Node) -> AnyView {
    use leptos::html;
    let kids = |children: Vec<Node>| children.into_iter().map(render).collect::<Vec<_>>();
    match node {
        Node::Text(t) => t.into_any(),
        Node::Code(t) => html::code().child(t).into_any(),
        Node::Break => html::br().into_any(),
        Node::Rule => html::hr().into_any(),
        Node::Element(element, children) => match element {
            Element::Paragraph => html::p().child(kids(children)).into_any(),
            Element::Heading(1) => html::h1().child(kids(children)).into_any(),
            Element::Heading(2) => html::h2().child(kids(children)).into_any(),
            Element::Heading(3) => html::h3().child(kids(children)).into_any(),
            Element::Heading(4) => html::h4().child(kids(children)).into_any(),
            Element::Heading(5) => html::h5().child(kids(children)).into_any(),
            Element::Heading(_) => html::h6().child(kids(children)).into_any(),
            Element::Quote => html::blockquote().child(kids(children)).into_any(),
            Element::CodeBlock => html::pre().child(html::code().child(plain(&children))).into_any(),
            Element::List { ordered: Some(start) } => {
                html::ol().attr("start", start.to_string()).child(kids(children)).into_any()
            }
            Element::List { ordered: None } => html::ul().child(kids(children)).into_any(),
            Element::Item => html::li().child(kids(children)).into_any(),
            Element::Emphasis => html::em().child(kids(children)).into_any(),
            Element::Strong => html::strong().child(kids(children)).into_any(),
            Element::Strike => html::del().child(kids(children)).into_any(),
            Element::Link { href: Some(href) } => html::a()
                .attr("href", href)
                .attr("target", "_blank")
                .attr("rel", "noopener noreferrer")
                .child(kids(children))
                .into_any(),
            Element::Link { href: None } => html::span().attr("class", "unsafe-link").child(kids(children)).into_any(),
            Element::Image { src: Some(src) } => html::img().attr("src", src).attr("alt", plain(&children)).into_any(),
            Element::Image { src: None } => plain(&children).into_any(),
            Element::Table => html::table().child(kids(children)).into_any(),
            Element::Head => html::thead().child(html::tr().child(kids(children))).into_any(),
            Element::Row => html::tr().child(kids(children)).into_any(),
            Element::Cell => html::td().child(kids(children)).into_any(),
        },
    }
}

/// The text panel's body: `options.content` as markdown (the default and
/// `html` mode, whose markup shows as text) or as preformatted `code`.
#[component]
pub fn TextBody(panel: Panel) -> impl IntoView {
    let content = panel.text_content().unwrap_or_default().to_owned();
    let body = if option_str(&panel, "mode", "markdown") == "code" {
        view! { <pre><code>{content}</code></pre> }.into_any()
    } else {
        parse(&content).into_iter().map(render).collect_view().into_any()
    };
    view! { <div class="panel-text">{body}</div> }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn only_safe_urls_survive() {
        let cases: &[(&str, bool)] = &[
            ("https://grafana.com/docs", true),
            ("http://example.com", true),
            ("mailto:ops@example.com", true),
            ("/d/abc?from=now-1h", true),
            ("relative/page", true),
            ("#anchor", true),
            ("?q=a:b", true),
            ("javascript:alert(1)", false),
            ("JavaScript:alert(1)", false),
            ("java\tscript:alert(1)", false),
            (" javascript:alert(1)", false),
            ("data:text/html,<script>alert(1)</script>", false),
            ("vbscript:x", false),
        ];
        for (url, want) in cases {
            assert_eq!(safe_url(url), *want, "{url:?}");
        }
    }

    #[wasm_bindgen_test]
    fn markdown_becomes_known_elements_and_html_stays_text() {
        let nodes = parse("# Title\n\nSome *em* and [link](javascript:alert(1)) <script>alert(1)</script>\n\n- a\n- b");
        assert_eq!(nodes[0], Node::Element(Element::Heading(1), vec![Node::Text("Title".into())]));
        let Node::Element(Element::Paragraph, children) = &nodes[1] else { panic!("{:?}", nodes[1]) };
        assert!(
            children.contains(&Node::Element(Element::Link { href: None }, vec![Node::Text("link".into())])),
            "{children:?}"
        );
        assert!(children.contains(&Node::Element(Element::Emphasis, vec![Node::Text("em".into())])), "{children:?}");
        assert!(children.contains(&Node::Text("<script>".into())), "raw HTML is text: {children:?}");
        assert!(matches!(&nodes[2], Node::Element(Element::List { ordered: None }, items) if items.len() == 2));

        // A raw HTML block is text too.
        let nodes = parse("<img src=x onerror=alert(1)>\n");
        assert_eq!(plain(&nodes), "<img src=x onerror=alert(1)>\n");
        assert!(!format!("{nodes:?}").contains("Image"));
    }
}
