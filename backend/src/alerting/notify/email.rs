//! The email receiver (`email_configs`): the message Alertmanager's
//! `notify/email` writes, sent over SMTP with lettre.
//!
//! The message is built here rather than with lettre's `Message` builder
//! because Alertmanager's headers are free-form (any name, templated
//! values, a `To` that is a display string, not a checked mailbox): every
//! configured header, Q-encoded when it is not plain ASCII (Go's
//! `mime.QEncoding`, which also keeps a CR or LF in a value from starting
//! a new header), then `Message-Id`, `Date` (RFC 1123 with a numeric
//! zone), and a `multipart/alternative` body with the text part first and
//! the HTML part last (the preferred alternative, RFC 2046 §5.1.4), each
//! quoted-printable. lettre writes the multipart body and speaks SMTP:
//! EHLO with `hello`, STARTTLS when `require_tls` (implicit TLS on port 465
//! or with `force_implicit_tls`), AUTH PLAIN or LOGIN when a username is
//! set, then MAIL, RCPT per recipient, DATA. One connection per
//! notification, as Alertmanager.
//!
//! Defaults: the subject is Alertmanager's `__subject`; the HTML part is
//! Vigil's own table of the alerts and the text part Vigil's own list
//! (Alertmanager sends only HTML by default; a text alternative costs
//! nothing and reads better in terminals). `html: ''` or `text: ''` leaves
//! that part out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Identity, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};

use super::super::config::{EmailConfig, split_smarthost};
use super::super::dispatch::AmAlert;
use super::{AttemptError, alerts_url, common, go_time};

/// A message ready to send: who it is from and to (the SMTP envelope) and
/// its bytes.
#[derive(Debug, Clone)]
pub struct Email {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
}

/// What the templates produced for one notification.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub from: String,
    pub to: String,
    /// Canonical header name → value.
    pub headers: BTreeMap<String, String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Builds the message; errors (bad addresses) are not worth retrying.
pub fn build(rendered: &Rendered, hostname: &str, now: SystemTime) -> Result<Email, String> {
    let from: Mailboxes = rendered.from.parse().map_err(|e| format!("parse 'from' addresses: {e}"))?;
    let from: Vec<Address> = from.into_iter().map(|m| m.email).collect();
    let [from] = from.as_slice() else {
        return Err(format!("must be exactly one 'from' address (got: {})", from.len()));
    };
    let to: Mailboxes = rendered.to.parse().map_err(|e| format!("parse 'to' addresses: {e}"))?;
    let to: Vec<Address> = to.into_iter().map(|m| m.email).collect();
    let envelope = Envelope::new(Some(from.clone()), to).map_err(|e| format!("invalid envelope: {e}"))?;

    let mut out = String::new();
    for (name, value) in &rendered.headers {
        let _ = write!(out, "{name}: {}\r\n", q_encode(value));
    }
    if !rendered.headers.contains_key("Message-Id") {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let _ = write!(out, "Message-Id: <{}.{}@{hostname}>\r\n", since.as_nanos(), fastrand::u64(..));
    }
    let _ = write!(out, "Date: {}\r\n", rfc1123z(now));
    out.push_str("MIME-Version: 1.0\r\n");
    let part = |content_type: ContentType, body: &str| {
        SinglePart::builder()
            .header(content_type)
            .header(ContentTransferEncoding::QuotedPrintable)
            .body(body.to_owned())
    };
    let mut body = MultiPart::alternative().build();
    if let Some(text) = rendered.text.as_deref().filter(|t| !t.is_empty()) {
        body = body.singlepart(part(ContentType::TEXT_PLAIN, text));
    }
    if let Some(html) = rendered.html.as_deref().filter(|t| !t.is_empty()) {
        body = body.singlepart(part(ContentType::TEXT_HTML, html));
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body.formatted());
    Ok(Email { envelope, bytes })
}

/// Sends one message: one SMTP session. Every failure here may be
/// temporary (Alertmanager retries them all), except a configuration the
/// TLS layer cannot use.
pub async fn send(config: &EmailConfig, email: &Email, timeout: Duration) -> Result<(), AttemptError> {
    let smarthost = config.smarthost.as_deref().unwrap_or_default();
    let Some((host, port)) = split_smarthost(smarthost) else {
        return Err(AttemptError::fatal(format!("invalid smarthost {smarthost:?}")));
    };
    let implicit = config.force_implicit_tls.unwrap_or(port == 465);
    let tls = if implicit || config.require_tls.unwrap_or(true) {
        let params = tls_parameters(config, &host).map_err(AttemptError::fatal)?;
        if implicit { Tls::Wrapper(params) } else { Tls::Required(params) }
    } else {
        Tls::None
    };
    let hello = config.hello.clone().unwrap_or_else(|| "localhost".to_owned());
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .hello_name(ClientId::Domain(hello))
        .timeout(Some(timeout));
    if let Some(user) = config.auth_username.as_deref().filter(|u| !u.is_empty()) {
        let password = crate::scrape::read_secret(
            config.auth_password.as_deref().unwrap_or_default(),
            config.auth_password_file.as_deref(),
        )
        .map_err(AttemptError::retry)?;
        if password.is_empty() {
            return Err(AttemptError::fatal("missing password for PLAIN auth mechanism".to_owned()));
        }
        transport = transport
            .credentials(Credentials::new(user.to_owned(), password))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    let transport = transport.build();
    // Bounds the whole session: lettre's timeout is per command.
    match tokio::time::timeout(timeout, transport.send_raw(&email.envelope, &email.bytes)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(AttemptError::retry(crate::scrape::scraper::error_chain(&e))),
        Err(_) => Err(AttemptError::retry(format!("no answer from {smarthost} within {timeout:?}"))),
    }
}

/// TLS settings from `tls_config`; the server name defaults to the
/// smarthost's host.
fn tls_parameters(config: &EmailConfig, host: &str) -> Result<TlsParameters, String> {
    let tls = config.tls_config.clone().unwrap_or_default();
    let domain = tls.server_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| host.to_owned());
    let mut builder = TlsParameters::builder(domain).dangerous_accept_invalid_certs(tls.insecure_skip_verify);
    if let Some(ca) = crate::scrape::read_pem(&tls.ca, &tls.ca_file, "ca")? {
        let cert = Certificate::from_pem(&ca).map_err(|e| format!("unable to use specified CA cert: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    let cert = crate::scrape::read_pem(&tls.cert, &tls.cert_file, "cert")?;
    let key = crate::scrape::read_pem(&tls.key, &tls.key_file, "key")?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let identity =
                Identity::from_pem(&cert, &key).map_err(|e| format!("unable to use client certificate: {e}"))?;
            builder = builder.identify_with(identity);
        }
        (None, None) => {}
        _ => return Err("client cert and key must be configured together".to_owned()),
    }
    builder.build_rustls().map_err(|e| format!("TLS configuration: {e}"))
}

/// Go's `mime.QEncoding.Encode("utf-8", s)`: unchanged when every byte is
/// printable ASCII or a tab, else RFC 2047 encoded-words of at most 75
/// characters, split between characters.
pub fn q_encode(s: &str) -> String {
    if s.bytes().all(|b| (b' '..=b'~').contains(&b) || b == b'\t') {
        return s.to_owned();
    }
    const PREFIX: &str = "=?utf-8?q?";
    // 75 minus the prefix and the closing `?=`.
    const ROOM: usize = 75 - PREFIX.len() - 2;
    let mut words = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        let mut encoded = String::new();
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            match b {
                b' ' => encoded.push('_'),
                b'!'..=b'~' if !matches!(b, b'=' | b'?' | b'_') => encoded.push(b as char),
                _ => {
                    let _ = write!(encoded, "={b:02X}");
                }
            }
        }
        if word.len() + encoded.len() > ROOM && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.push_str(&encoded);
    }
    words.push(word);
    words.iter().map(|w| format!("{PREFIX}{w}?=")).collect::<Vec<_>>().join(" ")
}

/// Go's `time.RFC1123Z` in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`.
pub fn rfc1123z(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = crate::api::params::civil_from_days(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month = MONTHS[(month - 1).clamp(0, 11) as usize];
    format!("{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} +0000", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Alertmanager's `KV.SortedPairs`: `alertname` first, then by name.
fn sorted_pairs(kv: &BTreeMap<String, String>) -> impl Iterator<Item = (&String, &String)> {
    kv.get_key_value("alertname").into_iter().chain(kv.iter().filter(|(k, _)| *k != "alertname"))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A default body: receiver, group labels, alerts, external URL, now.
pub type DefaultBody = fn(&str, &BTreeMap<String, String>, &[AmAlert], &str, i64) -> String;

/// Vigil's default HTML part: the subject as a heading, a link to the
/// alerts, then one table per alert (labels, annotations, times, source),
/// firing alerts first. Every value is HTML-escaped.
pub fn default_html(
    receiver: &str,
    group_labels: &BTreeMap<String, String>,
    alerts: &[AmAlert],
    external_url: &str,
    now_ms: i64,
) -> String {
    let title = super::subject(group_labels, alerts, now_ms);
    let (firing, resolved) = super::firing_and_resolved(alerts, now_ms);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"UTF-8\">\n<title>{}</title>\n</head>\n\
         <body style=\"font-family: sans-serif; font-size: 14px; color: #333;\">\n\
         <h2 style=\"color: {};\">{}</h2>\n<p><a href=\"{}\">View in Vigil</a></p>\n",
        html_escape(&title),
        if firing.is_empty() { "#2e7d32" } else { "#c62828" },
        html_escape(&title),
        html_escape(&alerts_url(external_url, receiver)),
    );
    let labels = common(alerts, |a| &a.labels);
    if !labels.is_empty() {
        out.push_str("<p>Common labels: ");
        let pairs: Vec<String> =
            sorted_pairs(&labels).map(|(k, v)| format!("<b>{}</b>={}", html_escape(k), html_escape(v))).collect();
        out.push_str(&pairs.join(", "));
        out.push_str("</p>\n");
    }
    for (heading, list) in [("Firing", &firing), ("Resolved", &resolved)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h3>{} {heading}</h3>", list.len());
        for alert in list.iter() {
            out.push_str("<table style=\"border-collapse: collapse; margin-bottom: 16px;\" cellpadding=\"4\">\n");
            let row = |out: &mut String, name: &str, value: &str| {
                let _ = writeln!(
                    out,
                    "<tr><th style=\"text-align: left; border: 1px solid #ccc; background: #f4f4f4;\">{}</th>\
                     <td style=\"border: 1px solid #ccc;\">{}</td></tr>",
                    html_escape(name),
                    html_escape(value)
                );
            };
            for (k, v) in sorted_pairs(&alert.labels) {
                row(&mut out, k, v);
            }
            for (k, v) in sorted_pairs(&alert.annotations) {
                row(&mut out, k, v);
            }
            row(&mut out, "Started", &go_time(alert.starts_at_ms));
            if alert.resolved_at(now_ms) {
                row(&mut out, "Ended", &go_time(alert.ends_at_ms));
            }
            if !alert.generator_url.is_empty() {
                let _ = writeln!(
                    out,
                    "<tr><th style=\"text-align: left; border: 1px solid #ccc; background: #f4f4f4;\">Source</th>\
                     <td style=\"border: 1px solid #ccc;\"><a href=\"{0}\">{0}</a></td></tr>",
                    html_escape(&alert.generator_url)
                );
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Vigil's default text part: the subject, the link, then each alert's
/// labels, annotations and source (as Alertmanager's `__text_alert_list`).
pub fn default_text(
    receiver: &str,
    group_labels: &BTreeMap<String, String>,
    alerts: &[AmAlert],
    external_url: &str,
    now_ms: i64,
) -> String {
    let (firing, resolved) = super::firing_and_resolved(alerts, now_ms);
    let mut out = format!(
        "{}\n\nView in Vigil: {}\n",
        super::subject(group_labels, alerts, now_ms),
        alerts_url(external_url, receiver)
    );
    for (heading, list) in [("Alerts Firing", &firing), ("Alerts Resolved", &resolved)] {
        if !list.is_empty() {
            let _ = write!(out, "\n{heading}:\n{}", super::text_alert_list(list));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_q_encoded_as_go_does() {
        let cases = [
            ("[FIRING:2] HighLoad (web prod)", "[FIRING:2] HighLoad (web prod)"),
            ("tab\tkept", "tab\tkept"),
            ("Ünïcode", "=?utf-8?q?=C3=9Cn=C3=AFcode?="),
            // A line break cannot start a header of its own.
            ("a\r\nBcc: x@y", "=?utf-8?q?a=0D=0ABcc:_x@y?="),
            ("é=?_", "=?utf-8?q?=C3=A9=3D=3F=5F?="),
            (
                "ééééééééééééééééééééééééééééééé",
                "=?utf-8?q?=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9?= \
                 =?utf-8?q?=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9?= \
                 =?utf-8?q?=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9?= \
                 =?utf-8?q?=C3=A9?=",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(q_encode(input), want, "{input:?}");
            assert!(q_encode(input).split(' ').all(|w| !w.starts_with("=?") || w.len() <= 75));
        }
    }

    #[test]
    fn dates_are_rfc1123z() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
        ];
        for (seconds, want) in cases {
            assert_eq!(rfc1123z(UNIX_EPOCH + Duration::from_secs(seconds)), want);
        }
    }

    #[test]
    fn message_has_alertmanagers_headers_and_parts() {
        let rendered = Rendered {
            from: "Vigil <vigil@example.org>".to_owned(),
            to: "a@example.org, B <b@example.org>".to_owned(),
            headers: BTreeMap::from([
                ("From".to_owned(), "Vigil <vigil@example.org>".to_owned()),
                ("Subject".to_owned(), "[FIRING:1] Ünïcode".to_owned()),
                ("To".to_owned(), "a@example.org, B <b@example.org>".to_owned()),
            ]),
            text: Some("plain = text".to_owned()),
            html: Some("<p>html</p>".to_owned()),
        };
        let email = build(&rendered, "host", UNIX_EPOCH + Duration::from_secs(1_700_000_000)).unwrap();
        let to: Vec<String> = email.envelope.to().iter().map(ToString::to_string).collect();
        assert_eq!(to, ["a@example.org", "b@example.org"]);
        assert_eq!(email.envelope.from().map(ToString::to_string).as_deref(), Some("vigil@example.org"));
        let text = String::from_utf8(email.bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(
            lines[..3],
            [
                "From: Vigil <vigil@example.org>",
                "Subject: =?utf-8?q?[FIRING:1]_=C3=9Cn=C3=AFcode?=",
                "To: a@example.org, B <b@example.org>"
            ]
        );
        assert!(
            lines[3].starts_with("Message-Id: <1700000000000000000.") && lines[3].ends_with("@host>"),
            "{}",
            lines[3]
        );
        assert_eq!(lines[4..6], ["Date: Tue, 14 Nov 2023 22:13:20 +0000", "MIME-Version: 1.0"]);
        assert!(lines[6].starts_with("Content-Type: multipart/alternative;"), "{}", lines[6]);
        let text_at = body.find("Content-Type: text/plain; charset=utf-8").unwrap();
        let html_at = body.find("Content-Type: text/html; charset=utf-8").unwrap();
        assert!(text_at < html_at, "text first, HTML last");
        assert!(body.contains("plain =3D text"), "quoted-printable: {body}");

        let bad = [
            (
                Rendered { from: "a@x, b@x".to_owned(), to: "c@x".to_owned(), ..Rendered::default() },
                "must be exactly one 'from' address (got: 2)",
            ),
            (
                Rendered { from: "a@x".to_owned(), to: "not an address".to_owned(), ..Rendered::default() },
                "parse 'to' addresses",
            ),
        ];
        for (rendered, want) in bad {
            let err = build(&rendered, "h", UNIX_EPOCH).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn default_bodies_list_every_alert_escaped() {
        let alert = |name: &str, ends: i64| AmAlert {
            labels: BTreeMap::from([
                ("alertname".to_owned(), "Load".to_owned()),
                ("instance".to_owned(), name.to_owned()),
            ]),
            annotations: BTreeMap::from([("summary".to_owned(), "load > 2 & <rising>".to_owned())]),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: ends,
            generator_url: "http://vigil/graph?g0.expr=up".to_owned(),
            updated_at_ms: 0,
            timeout: false,
        };
        let alerts = [alert("a:1", 0), alert("b:1", 1_700_000_060_000)];
        let group = BTreeMap::from([("alertname".to_owned(), "Load".to_owned())]);
        let now = 1_700_000_100_000;
        let html = default_html("team mail", &group, &alerts, "http://vigil", now);
        for want in [
            "<title>[FIRING:1] Load </title>",
            "<a href=\"http://vigil/#/alerts?receiver=team+mail\">",
            "<h3>1 Firing</h3>",
            "<h3>1 Resolved</h3>",
            "<td style=\"border: 1px solid #ccc;\">a:1</td>",
            "load &gt; 2 &amp; &lt;rising&gt;",
            "<td style=\"border: 1px solid #ccc;\">2023-11-14T22:14:20Z</td>",
        ] {
            assert!(html.contains(want), "{want} not in\n{html}");
        }
        assert!(html.find("a:1") < html.find("b:1"), "firing before resolved");
        let text = default_text("team mail", &group, &alerts, "http://vigil", now);
        assert_eq!(
            text,
            "[FIRING:1] Load \n\nView in Vigil: http://vigil/#/alerts?receiver=team+mail\n\
             \nAlerts Firing:\nLabels:\n - alertname = Load\n - instance = a:1\nAnnotations:\n - summary = load > 2 & <rising>\nSource: http://vigil/graph?g0.expr=up\n\
             \nAlerts Resolved:\nLabels:\n - alertname = Load\n - instance = b:1\nAnnotations:\n - summary = load > 2 & <rising>\nSource: http://vigil/graph?g0.expr=up\n"
        );
    }
}
