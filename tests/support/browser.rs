//! A real headless browser for page tests: Debian's `chromium`, driven through `chromedriver`
//! with the W3C WebDriver protocol (plain HTTP and JSON on 127.0.0.1). Nothing is faked: the page
//! is loaded, laid out and drawn by the browser, and a screenshot can be taken.
//!
//! When `chromium` or `chromedriver` is missing, [`Browser::start`] goes by [`super::need`]'s
//! rule: under CI it fails saying how to install them (`apt-get install chromium
//! chromium-driver`), elsewhere it says `SKIPPED` and returns `None`. `SPARTAKUS_SKIP_BROWSER=1`
//! skips the browser tests where the browser is installed (for a developer; CI never sets it).

use super::need;
use super::util::TempDir;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: TempDir,
}

/// An element's box on the page, in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// What a page test asks of a browser: Chromium through chromedriver ([`Browser`]), or Firefox
/// through WebDriver BiDi ([`super::firefox::Firefox`]). An element is a handle the browser
/// gave (a string).
pub trait Page {
    /// Loads `url` and waits for the page to finish loading.
    fn open(&self, url: &str);
    /// The elements matching a CSS selector.
    fn find_all(&self, css: &str) -> Vec<String>;
    /// Elements under `parent` matching a CSS selector.
    fn find_in(&self, parent: &str, css: &str) -> Vec<String>;
    fn attribute(&self, element: &str, name: &str) -> Option<String>;
    /// A DOM property of an element (`scrollWidth`), as JSON.
    fn property(&self, element: &str, name: &str) -> Value;
    /// The computed value of a CSS property.
    fn css(&self, element: &str, property: &str) -> String;
    fn rect(&self, element: &str) -> Rect;
    fn text(&self, element: &str) -> String;
    /// The page's title.
    fn title(&self) -> String;
    /// The browser console's messages (CSP violations show here).
    fn console(&self) -> Vec<String>;
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a fresh profile; `None` when
    /// the test cannot run (see the module's comment).
    pub fn start() -> Option<Browser> {
        const HINT: &str = "apt-get install chromium chromium-driver";
        if need::opted_out("SPARTAKUS_SKIP_BROWSER", "the browser tests")
            || !need::tool(CHROMIUM, HINT)
            || !need::tool(CHROMEDRIVER, HINT)
        {
            return None;
        }
        let port = super::http::refused_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let profile = TempDir::new("chromium");
        let started = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < super::HANG_GUARD,
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let answer = post(&format!("{base}/session"), &caps);
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_string();
        Some(Browser {
            driver,
            base,
            session,
            _profile: profile,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    /// A screenshot of the whole window, as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        let answer = get(&self.url("/screenshot"));
        let data = answer["value"].as_str().unwrap_or("");
        super::util::base64_decode(data).expect("a base64 screenshot")
    }
}

impl Page for Browser {
    /// Loads `url` and waits for the page to finish loading.
    fn open(&self, url: &str) {
        post(&self.url("/url"), &json!({ "url": url }));
    }

    /// The elements matching a CSS selector.
    fn find_all(&self, css: &str) -> Vec<String> {
        let answer = post(
            &self.url("/elements"),
            &json!({"using": "css selector", "value": css}),
        );
        answer["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Elements under `parent` matching a CSS selector.
    fn find_in(&self, parent: &str, css: &str) -> Vec<String> {
        let answer = post(
            &self.url(&format!("/element/{parent}/elements")),
            &json!({"using": "css selector", "value": css}),
        );
        answer["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn attribute(&self, element: &str, name: &str) -> Option<String> {
        get(&self.url(&format!("/element/{element}/attribute/{name}")))["value"]
            .as_str()
            .map(String::from)
    }

    /// A DOM property of an element (`scrollWidth`), as JSON.
    fn property(&self, element: &str, name: &str) -> Value {
        get(&self.url(&format!("/element/{element}/property/{name}")))["value"].clone()
    }

    /// The computed value of a CSS property.
    fn css(&self, element: &str, property: &str) -> String {
        get(&self.url(&format!("/element/{element}/css/{property}")))["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn rect(&self, element: &str) -> Rect {
        let v = get(&self.url(&format!("/element/{element}/rect")))["value"].clone();
        let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
        Rect {
            x: n("x"),
            y: n("y"),
            width: n("width"),
            height: n("height"),
        }
    }

    fn text(&self, element: &str) -> String {
        get(&self.url(&format!("/element/{element}/text")))["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's title.
    fn title(&self) -> String {
        get(&self.url("/title"))["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The browser console's messages (CSP violations show here).
    fn console(&self) -> Vec<String> {
        let answer = post(&self.url("/se/log"), &json!({"type": "browser"}));
        answer["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["message"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn post(url: &str, body: &Value) -> Value {
    let answer = ureq::post(url)
        .config()
        .http_status_as_error(false)
        .build()
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    read(url, answer)
}

fn get(url: &str) -> Value {
    let answer = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    read(url, answer)
}

fn read(url: &str, mut answer: ureq::http::Response<ureq::Body>) -> Value {
    let status = answer.status();
    let text = answer
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status}: {value}");
    value
}
