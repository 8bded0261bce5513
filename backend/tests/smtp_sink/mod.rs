//! A small SMTP server for tests: speaks enough ESMTP for Vigil's and
//! Alertmanager's email receivers (EHLO/HELO, AUTH PLAIN and LOGIN, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; no STARTTLS, so senders need
//! `require_tls: false`), keeps every message it accepts, and parses them
//! enough for assertions (headers, `multipart/alternative` parts decoded
//! from quoted-printable).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// `user:password` when the client authenticated.
    pub auth: Option<String>,
    /// The EHLO/HELO name.
    pub hello: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA, dot-unstuffed, CRLF line ends kept.
    pub data: String,
}

impl Received {
    /// The message's headers (unfolded), in order.
    pub fn headers(&self) -> Vec<(String, String)> {
        headers(self.data.split_once("\r\n\r\n").map_or(self.data.as_str(), |(h, _)| h))
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers().into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The parts of a multipart message: (Content-Type, decoded body with
    /// the CRLF line ends of mail turned back into `\n`).
    pub fn parts(&self) -> Vec<(String, String)> {
        let content_type = self.header("Content-Type").unwrap_or_default();
        let Some(boundary) = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")) else {
            return Vec::new();
        };
        let boundary = format!("--{}", boundary.trim_matches('"'));
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        body.split(&boundary)
            .skip(1)
            .filter(|part| !part.starts_with("--"))
            .filter_map(|part| {
                let (head, body) = part.trim_start_matches("\r\n").split_once("\r\n\r\n")?;
                let head = headers(head);
                let get = |name: &str| {
                    head.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default()
                };
                let body = body.strip_suffix("\r\n").unwrap_or(body);
                let decoded = if get("Content-Transfer-Encoding").eq_ignore_ascii_case("quoted-printable") {
                    let bytes = quoted_printable::decode(body, quoted_printable::ParseMode::Robust).ok()?;
                    String::from_utf8(bytes).ok()?
                } else {
                    body.to_owned()
                };
                Some((get("Content-Type"), decoded.replace("\r\n", "\n")))
            })
            .collect()
    }
}

fn headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    out
}

/// A running sink; stops with the test's runtime.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    /// Starts on 127.0.0.1 on a free port. `auth`: the `user:password`
    /// it requires (and advertises AUTH for); None accepts anyone.
    pub async fn start(auth: Option<&str>) -> SmtpSink {
        SmtpSink::start_with(auth, "PLAIN LOGIN").await
    }

    /// As [`SmtpSink::start`], advertising these AUTH mechanisms.
    pub async fn start_with(auth: Option<&str>, mechanisms: &str) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = SmtpSink { port, received: Arc::clone(&received) };
        let auth = auth.map(str::to_owned);
        let mechanisms = mechanisms.to_owned();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let received = Arc::clone(&received);
                let auth = auth.clone();
                let mechanisms = mechanisms.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(stream, auth.as_deref(), &mechanisms, &received).await {
                        eprintln!("SMTP sink session ended: {e}");
                    }
                });
            }
        });
        sink
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn decode(b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn session(
    stream: TcpStream,
    auth: Option<&str>,
    mechanisms: &str,
    received: &Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut current = Received::default();
    let mut authenticated = auth.is_none();
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            current.hello = command[4..].trim().to_owned();
            if auth.is_some() {
                format!("250-sink.test\r\n250-AUTH {mechanisms}\r\n250 8BITMIME\r\n")
            } else {
                "250-sink.test\r\n250 8BITMIME\r\n".to_owned()
            }
        } else if upper.starts_with("AUTH PLAIN") {
            let mut payload = command[10..].trim().to_owned();
            if payload.is_empty() {
                write.write_all(b"334 \r\n").await?;
                payload.clear();
                lines.read_line(&mut payload).await?;
            }
            // authzid \0 authcid \0 password
            let decoded = decode(&payload);
            let mut fields = decoded.split('\0').skip(1);
            let given = format!("{}:{}", fields.next().unwrap_or(""), fields.next().unwrap_or(""));
            check_auth(auth, given, &mut current, &mut authenticated)
        } else if upper.starts_with("AUTH LOGIN") {
            let mut user = String::new();
            write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            lines.read_line(&mut user).await?;
            let mut password = String::new();
            write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            lines.read_line(&mut password).await?;
            let given = format!("{}:{}", decode(&user), decode(&password));
            check_auth(auth, given, &mut current, &mut authenticated)
        } else if upper.starts_with("MAIL FROM:") {
            if authenticated {
                current.mail_from = address(&command[10..]);
                "250 OK\r\n".to_owned()
            } else {
                "530 5.7.0 Authentication required\r\n".to_owned()
            }
        } else if upper.starts_with("RCPT TO:") {
            current.rcpt_to.push(address(&command[8..]));
            "250 OK\r\n".to_owned()
        } else if upper == "DATA" {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            loop {
                let mut data_line = String::new();
                if lines.read_line(&mut data_line).await? == 0 {
                    return Ok(());
                }
                if data_line == ".\r\n" || data_line == ".\n" {
                    break;
                }
                data.push_str(data_line.strip_prefix('.').unwrap_or(&data_line));
            }
            current.data = data;
            let done = std::mem::take(&mut current);
            current.hello.clone_from(&done.hello);
            current.auth.clone_from(&done.auth);
            received.lock().unwrap_or_else(|e| e.into_inner()).push(done);
            "250 OK queued\r\n".to_owned()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 OK\r\n".to_owned()
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 Command not implemented\r\n".to_owned()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

fn check_auth(want: Option<&str>, given: String, current: &mut Received, authenticated: &mut bool) -> String {
    if want == Some(given.as_str()) {
        current.auth = Some(given);
        *authenticated = true;
        "235 2.7.0 Authentication successful\r\n".to_owned()
    } else {
        "535 5.7.8 Authentication credentials invalid\r\n".to_owned()
    }
}

/// `<a@b> SIZE=…` → `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(open), Some(close)) if open < close => arg[open + 1..close].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or("").to_owned(),
    }
}
