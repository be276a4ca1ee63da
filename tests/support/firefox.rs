//! A second real browser for page tests: Debian's `firefox-esr`, headless, driven through
//! WebDriver BiDi (JSON over a WebSocket on 127.0.0.1), which Firefox serves itself; Debian has
//! no geckodriver. The page is loaded, laid out and drawn by Firefox's own engine, so what the
//! dashboard's tests check in Chromium is checked again in another engine.
//!
//! Its profile keeps it off the network: every host name resolves to 127.0.0.1 without a DNS
//! query, every proxy is a closed port of 127.0.0.1 (loopback itself is never proxied), and
//! updates, telemetry, studies, remote settings, safe browsing and the connectivity checks are
//! off. (Checked with `strace -f -e trace=connect`: without the forced resolution Firefox asked
//! the DNS server for its remote settings' host; with it, it connects to 127.0.0.1 only.) When `firefox-esr` is missing, [`Firefox::start`] goes by
//! [`super::need`]'s rule (`SPARTAKUS_SKIP_BROWSER=1` skips it too).

use super::browser::{Page, Rect};
use super::need;
use super::util::TempDir;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use tungstenite::{Message, WebSocket};

const FIREFOX: &str = "/usr/bin/firefox-esr";

/// The profile's preferences: loopback only, nothing in the background.
const PREFS: &str = r#"
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", 9);
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", 9);
user_pref("network.proxy.socks", "127.0.0.1");
user_pref("network.proxy.socks_port", 9);
user_pref("network.proxy.socks_remote_dns", true);
user_pref("network.proxy.allow_hijacking_localhost", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.trr.mode", 5);
user_pref("network.dns.forceResolve", "127.0.0.1");
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("app.shield.optoutstudies.enabled", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:9/v1");
user_pref("toolkit.telemetry.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.search.update", false);
user_pref("browser.region.network.url", "");
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.startup.homepage", "about:blank");
"#;

/// Run in each page before its own content: keeps what the page's policy refused.
const VIOLATIONS: &str = "() => { window.__violations = []; \
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push( \
    'Content Security Policy: refused ' + e.blockedURI + ' (' + e.violatedDirective + ')')); }";

/// A Firefox session.
pub struct Firefox {
    child: Child,
    socket: RefCell<WebSocket<TcpStream>>,
    context: String,
    next: RefCell<u64>,
    /// Messages of the page's log, as they came (events read while waiting for answers).
    log: RefCell<Vec<String>>,
    _profile: TempDir,
}

impl Firefox {
    /// Starts a headless Firefox with a fresh profile and a BiDi session on its tab; `None`
    /// when the test cannot run.
    pub fn start() -> Option<Firefox> {
        if need::opted_out("SPARTAKUS_SKIP_BROWSER", "the browser tests")
            || !need::tool(FIREFOX, "apt-get install firefox-esr")
        {
            return None;
        }
        let profile = TempDir::new("firefox");
        std::fs::write(profile.join("user.js"), PREFS).unwrap();
        let mut child = Command::new(FIREFOX)
            .args(["--headless", "--no-remote", "--profile"])
            .arg(profile.path())
            .args(["--remote-debugging-port", "0", "--window-size", "1280,1000"])
            .arg("about:blank")
            .env("HOME", profile.path())
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting firefox-esr");
        let address = listening(&mut child);
        let stream = TcpStream::connect(&address).expect("connecting to Firefox's BiDi port");
        // A Firefox that stops answering fails the test instead of hanging it.
        stream.set_read_timeout(Some(super::HANG_GUARD)).unwrap();
        let (socket, _) = tungstenite::client(format!("ws://{address}/session"), stream)
            .expect("the BiDi WebSocket handshake");
        let mut firefox = Firefox {
            child,
            socket: RefCell::new(socket),
            context: String::new(),
            next: RefCell::new(0),
            log: RefCell::new(Vec::new()),
            _profile: profile,
        };
        firefox.command("session.new", json!({"capabilities": {}}));
        let tree = firefox.command("browsingContext.getTree", json!({}));
        firefox.context = tree["contexts"][0]["context"]
            .as_str()
            .unwrap_or_else(|| panic!("no browsing context: {tree}"))
            .to_string();
        firefox.command("session.subscribe", json!({"events": ["log.entryAdded"]}));
        // Firefox reports a Content-Security-Policy violation to the page, not to the log that
        // BiDi forwards: a script of the driver's (not the page's, so the policy allows it)
        // keeps each one, for [`Page::console`].
        firefox.command(
            "script.addPreloadScript",
            json!({"functionDeclaration": VIOLATIONS}),
        );
        Some(firefox)
    }

    /// Sends one BiDi command and returns its result, keeping the log events that come first.
    fn command(&self, method: &str, params: Value) -> Value {
        let id = {
            let mut next = self.next.borrow_mut();
            *next += 1;
            *next
        };
        let mut socket = self.socket.borrow_mut();
        let text = json!({"id": id, "method": method, "params": params}).to_string();
        socket
            .send(Message::text(text))
            .expect("sending to Firefox");
        loop {
            let message = socket.read().expect("reading from Firefox");
            let Ok(text) = message.to_text() else {
                continue;
            };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["method"] == "log.entryAdded" {
                let entry = &v["params"];
                let line = format!("{}: {}", entry["level"], entry["text"]);
                self.log.borrow_mut().push(line);
                continue;
            }
            if v["id"] != id {
                continue;
            }
            assert_ne!(v["type"], "error", "{method}: {v}");
            return v["result"].clone();
        }
    }

    /// Calls the JavaScript function `function` in the page with `args` (BiDi local values)
    /// and returns what it returned, as JSON ([`plain`]).
    fn call(&self, function: &str, args: Vec<Value>) -> Value {
        let result = self.command(
            "script.callFunction",
            json!({
                "functionDeclaration": function,
                "awaitPromise": false,
                "target": {"context": self.context},
                "arguments": args,
                "serializationOptions": {"maxDomDepth": 0},
            }),
        );
        assert_eq!(result["type"], "success", "{function}: {result}");
        plain(&result["result"])
    }

    /// `function(element, name)` on an element, `name` a string.
    fn on(&self, element: &str, function: &str, name: &str) -> Value {
        self.call(
            function,
            vec![
                json!({"sharedId": element}),
                json!({"type": "string", "value": name}),
            ],
        )
    }
}

/// Waits for Firefox to say `WebDriver BiDi listening on ws://ADDRESS`; its standard error is
/// then drained in the background. A Firefox that exits first fails the test with what it said.
fn listening(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ws://").nth(1) {
                let _ = tx.send(Ok(rest.trim().trim_end_matches('/').to_string()));
            }
            said.push_str(&line);
            said.push('\n');
        }
        let _ = tx.send(Err(said));
    });
    match rx.recv_timeout(super::HANG_GUARD) {
        Ok(Ok(address)) => address,
        Ok(Err(said)) => panic!("Firefox exited before WebDriver BiDi listened:\n{said}"),
        Err(_) => panic!("Firefox did not say where WebDriver BiDi listens"),
    }
}

/// A BiDi remote value as plain JSON: primitives as themselves, arrays element by element, a
/// node as its shared ID (the handle [`Page`]'s methods take).
fn plain(remote: &Value) -> Value {
    match remote["type"].as_str() {
        Some("string" | "number" | "boolean") => remote["value"].clone(),
        Some("array") => Value::Array(
            remote["value"]
                .as_array()
                .map(|a| a.iter().map(plain).collect())
                .unwrap_or_default(),
        ),
        Some("node") => remote["sharedId"].clone(),
        _ => Value::Null,
    }
}

fn strings(v: Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Page for Firefox {
    fn open(&self, url: &str) {
        self.command(
            "browsingContext.navigate",
            json!({"context": self.context, "url": url, "wait": "complete"}),
        );
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        let all = "(css) => Array.from(document.querySelectorAll(css))";
        strings(self.call(all, vec![json!({"type": "string", "value": css})]))
    }

    fn find_in(&self, parent: &str, css: &str) -> Vec<String> {
        strings(self.on(
            parent,
            "(e, css) => Array.from(e.querySelectorAll(css))",
            css,
        ))
    }

    fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let v = self.on(element, "(e, name) => e.getAttribute(name)", name);
        v.as_str().map(String::from)
    }

    fn property(&self, element: &str, name: &str) -> Value {
        self.on(element, "(e, name) => e[name]", name)
    }

    fn css(&self, element: &str, property: &str) -> String {
        let get = "(e, p) => getComputedStyle(e).getPropertyValue(p)";
        let v = self.on(element, get, property);
        v.as_str().unwrap_or("").to_string()
    }

    fn rect(&self, element: &str) -> Rect {
        let get = "(e, _) => { const r = e.getBoundingClientRect(); \
                   return [r.x + scrollX, r.y + scrollY, r.width, r.height]; }";
        let v = self.on(element, get, "");
        let n = |i: usize| v[i].as_f64().unwrap_or(0.0);
        Rect {
            x: n(0),
            y: n(1),
            width: n(2),
            height: n(3),
        }
    }

    /// The rendered text, as WebDriver's Get Element Text gives it: a table's cells apart by
    /// one space (innerText puts a tab), lines trimmed.
    fn text(&self, element: &str) -> String {
        let v = self.on(element, "(e, _) => e.innerText", "");
        let lines = v.as_str().unwrap_or("").lines().map(|line| {
            let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            words.join(" ")
        });
        lines.collect::<Vec<_>>().join("\n")
    }

    fn title(&self) -> String {
        let v = self.call("() => document.title", vec![]);
        v.as_str().unwrap_or("").to_string()
    }

    /// The page's log, and what its policy refused.
    fn console(&self) -> Vec<String> {
        let refused = strings(self.call("() => window.__violations || []", vec![]));
        // (That round trip also read the log events sent before it.)
        let mut all = self.log.borrow().clone();
        all.extend(refused);
        all
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
