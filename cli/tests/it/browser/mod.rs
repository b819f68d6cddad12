//! The web app driven in real Chromium (issue 18, docs/web.md): a real `carnet node
//! run`, Debian's `chromium` through `chromedriver` (both installed by `.ci/run`).
//!
//! [`Browser`] is the harness: synchronous methods over a WebDriver session, each
//! bounded by a deadline, each failing with the step, the URL and the page's text. The
//! tests never skip: without chromedriver or Chromium they fail and say how to install
//! them.

mod trade;

use crate::node_run::{start, stop};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::fmt::Display;
use std::future::Future;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to run to get the browser and its driver (Debian's package names).
const INSTALL: &str = "install them with `sudo apt-get install -y chromium chromium-driver` \
     (Debian; .ci/run does it when chromedriver is missing)";
/// Chromium as Debian installs it; chromedriver looks in its own places without it.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long chromedriver may take to listen.
const DRIVER_DEADLINE: Duration = Duration::from_secs(20);
/// How long one WebDriver command may take (a page load included).
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);
/// The desktop window the tests start with.
pub const WINDOW: (u32, u32) = (1280, 900);

/// A headless Chromium session behind its own chromedriver, with blocking methods.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// chromedriver's stdout and stderr, for the failure messages.
    driver_log: tempfile::NamedTempFile,
    /// Where Chromium saves what a page downloads.
    downloads: tempfile::TempDir,
}

/// The element that has the keyboard focus, as a test asserts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    /// Lower-case tag name: `input`, `a`, `button`, or `body` when nothing has it.
    pub tag: String,
    pub id: String,
    pub name: String,
    /// The text of the `<label>`s associated with it (`for=` or wrapping).
    pub labels: Vec<String>,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium
    /// session with a 1280x900 window. Fails (never skips) without chromedriver or
    /// Chromium.
    pub fn start() -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the browser");
        let mut last_error = String::new();
        let downloads = tempfile::tempdir().expect("a download directory");
        for _attempt in 0..3 {
            let port = free_port();
            let driver_log = tempfile::NamedTempFile::new().expect("a chromedriver log file");
            let mut cmd = Command::new(
                std::env::var_os("CARNET_CHROMEDRIVER").unwrap_or_else(|| "chromedriver".into()),
            );
            // One file description for both, so their lines interleave.
            let log = driver_log.reopen().expect("the chromedriver log");
            cmd.arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("the chromedriver log"))
                .stderr(log);
            // Its own process group, so Drop ends Chromium's processes with it.
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let mut driver = match cmd.spawn() {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    panic!("browser test: `chromedriver` is not on the PATH: {INSTALL}")
                }
                Err(e) => panic!("browser test: cannot run chromedriver ({e}): {INSTALL}"),
            };
            match wait_listening(&mut driver, port) {
                Ok(()) => {}
                Err(e) => {
                    last_error = format!("{e}; its log:\n{}", read(driver_log.path()));
                    kill_group(&mut driver);
                    continue;
                }
            }
            let connected = rt.block_on(async {
                tokio::time::timeout(COMMAND_DEADLINE, async {
                    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                    ClientBuilder::new(connector)
                        .capabilities(capabilities(downloads.path()))
                        .connect(&format!("http://127.0.0.1:{port}"))
                        .await
                })
                .await
            });
            let client = match connected {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    kill_group(&mut driver);
                    panic!(
                        "browser test: chromedriver could not start Chromium ({e}): is \
                         `chromium` installed? {INSTALL}\nchromedriver's log:\n{}",
                        read(driver_log.path())
                    );
                }
                Err(_) => {
                    kill_group(&mut driver);
                    panic!(
                        "browser test: no Chromium session within {COMMAND_DEADLINE:?}\n\
                         chromedriver's log:\n{}",
                        read(driver_log.path())
                    );
                }
            };
            let browser = Browser {
                rt,
                client: Some(client),
                driver,
                driver_log,
                downloads,
            };
            browser.set_window(WINDOW.0, WINDOW.1);
            browser.allow_downloads();
            return browser;
        }
        panic!("browser test: chromedriver did not come up in 3 attempts: {last_error}\n{INSTALL}");
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a live session")
    }

    /// Runs one WebDriver step, bounded by [`COMMAND_DEADLINE`].
    fn run<T, E: Display>(
        &self,
        step: &str,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        match self
            .rt
            .block_on(async { tokio::time::timeout(COMMAND_DEADLINE, fut).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{step}: {e}")),
            Err(_) => Err(format!("{step}: no answer within {COMMAND_DEADLINE:?}")),
        }
    }

    /// Panics with the failed step, the page's address and its text.
    #[track_caller]
    pub fn fail(&self, what: impl Display) -> ! {
        let url = self
            .run("url", self.client().current_url())
            .map(|u| u.to_string())
            .unwrap_or_else(|e| e);
        let text = self.try_page_text().unwrap_or_else(|e| e);
        panic!("browser test failed: {what}\nat {url}\n--- page text ---\n{text}\n---");
    }

    /// Runs `step`, or fails with its error and the page.
    #[track_caller]
    fn must<T, E: Display>(&self, step: &str, fut: impl Future<Output = Result<T, E>>) -> T {
        match self.run(step, fut) {
            Ok(v) => v,
            Err(e) => self.fail(e),
        }
    }

    /// Opens `url` and waits for it to load.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.must(&format!("open {url}"), self.client().goto(url));
    }

    /// Replaces the value of the field `css` with `text`, typed.
    #[track_caller]
    pub fn fill(&self, css: &str, text: &str) {
        let step = format!("fill {css}");
        self.must(&step, async {
            let e = self.client().find(Locator::Css(css)).await?;
            e.clear().await?;
            e.send_keys(text).await
        });
    }

    /// Clicks the element `css` (a page it loads is waited for by chromedriver).
    #[track_caller]
    pub fn click(&self, css: &str) {
        self.must(&format!("click {css}"), async {
            self.client().find(Locator::Css(css)).await?.click().await
        });
    }

    /// The rendered text of the element `css`.
    #[track_caller]
    pub fn text(&self, css: &str) -> String {
        self.must(&format!("read the text of {css}"), async {
            self.client().find(Locator::Css(css)).await?.text().await
        })
    }

    /// The rendered text of the whole page.
    #[track_caller]
    pub fn page_text(&self) -> String {
        self.try_page_text().unwrap_or_else(|e| self.fail(e))
    }

    fn try_page_text(&self) -> Result<String, String> {
        let script = "return document.body ? document.body.innerText \
                      : document.documentElement.outerHTML;";
        let v = self.run("read the page", self.client().execute(script, vec![]))?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The page's address.
    #[track_caller]
    pub fn current_url(&self) -> String {
        self.must("read the address", self.client().current_url())
            .to_string()
    }

    /// Polls until the element `css` exists and its text contains `needle`; returns
    /// that text. Fails past `deadline`.
    #[track_caller]
    pub fn wait_for_text(&self, css: &str, needle: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        loop {
            let found = self.run(&format!("find {css}"), async {
                match self.client().find(Locator::Css(css)).await {
                    Ok(e) => e.text().await.map(Some),
                    Err(e) if e.is_no_such_element() => Ok(None),
                    Err(e) => Err(e),
                }
            });
            let last = match found {
                Ok(Some(text)) if text.contains(needle) => return text,
                Ok(Some(text)) => format!("its text is {text:?}"),
                Ok(None) => "no such element".to_owned(),
                // A page in the middle of loading: try again.
                Err(e) => e,
            };
            if Instant::now() >= end {
                self.fail(format!("wait {deadline:?} for {needle:?} in {css}: {last}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sizes the window so that the page's viewport is `width`x`height` CSS pixels
    /// (headless Chromium keeps about 140 px of the window's height for itself).
    #[track_caller]
    pub fn set_window(&self, width: u32, height: u32) {
        let step = format!("resize the window to a {width}x{height} viewport");
        self.must(&step, async {
            let c = self.client();
            c.set_window_size(width, height).await?;
            let inner = c
                .execute("return [window.innerWidth, window.innerHeight];", vec![])
                .await?;
            let dim = |i: usize, want: u32| {
                let got = inner[i].as_u64().map_or(want, |v| v as u32);
                (2 * want).saturating_sub(got)
            };
            let (w, h) = (dim(0, width), dim(1, height));
            if (w, h) != (width, height) {
                c.set_window_size(w, h).await?;
            }
            Ok::<_, fantoccini::error::CmdError>(())
        });
        let inner = self.execute("return [window.innerWidth, window.innerHeight];", vec![]);
        if inner != json!([width, height]) {
            self.fail(format!("{step}: the viewport is {inner}"));
        }
    }

    /// The elements that stick out past the viewport's right edge (so the page
    /// scrolls sideways), as `tag.class: right edge in px`.
    #[track_caller]
    pub fn overflowing(&self) -> Vec<String> {
        // Content inside a box that scrolls sideways on its own (a wide table) does not
        // make the page scroll.
        let script = "const w = document.documentElement.clientWidth; \
                      const inScroller = e => { for (let p = e.parentElement; p; p = p.parentElement) { \
                      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; } \
                      return false; }; \
                      return Array.from(document.querySelectorAll('body *')) \
                      .filter(e => e.getBoundingClientRect().right > w + 0.5 && !inScroller(e)) \
                      .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') \
                      + ': ' + Math.round(e.getBoundingClientRect().right) + ' > ' + w);";
        let v = self.execute(script, vec![]);
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Saves the viewport as `<name>.png` in `$CARNET_SCREENSHOTS`, or else in
    /// `target/screenshots/` under the workspace root; returns its path.
    #[track_caller]
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            self.fail(format!("create {}: {e}", dir.display()));
        }
        let png = self.must(
            &format!("take the screenshot {name}"),
            self.client().screenshot(),
        );
        let path = dir.join(format!("{name}.png"));
        if let Err(e) = std::fs::write(&path, png) {
            self.fail(format!("write {}: {e}", path.display()));
        }
        path
    }

    /// Chooses `file` in the `<input type=file>` at `css` (chromedriver takes the
    /// absolute path as typed keys).
    #[track_caller]
    pub fn upload(&self, css: &str, file: &Path) {
        let file = match file.canonicalize() {
            Ok(f) => f,
            Err(e) => self.fail(format!("upload {}: {e}", file.display())),
        };
        let path = file.to_str().expect("a UTF-8 path").to_owned();
        self.must(&format!("choose {path} in {css}"), async {
            self.client()
                .find(Locator::Css(css))
                .await?
                .send_keys(&path)
                .await
        });
    }

    /// Lets pages download into the test's directory: headless Chromium drops downloads
    /// unless told where they go, through the DevTools protocol (chromedriver's
    /// `goog/cdp/execute`).
    fn allow_downloads(&self) {
        let path = self
            .downloads
            .path()
            .to_str()
            .expect("a UTF-8 path")
            .to_owned();
        let cmd = Cdp {
            cmd: "Browser.setDownloadBehavior",
            params: json!({ "behavior": "allow", "downloadPath": path, "eventsEnabled": false }),
        };
        self.must("allow downloads", self.client().issue_cmd(cmd));
    }

    /// Waits for a finished download whose name ends with `suffix` (Chromium writes a
    /// `.crdownload` first) and returns its path and content.
    #[track_caller]
    pub fn downloaded(&self, suffix: &str, deadline: Duration) -> (PathBuf, String) {
        let end = Instant::now() + deadline;
        loop {
            let found = std::fs::read_dir(self.downloads.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(suffix));
            if let Some(path) = found {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    return (path, text);
                }
            }
            if Instant::now() > end {
                self.fail(format!(
                    "no download ending in {suffix} within {deadline:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Presses and releases Tab, wherever the focus is.
    #[track_caller]
    pub fn press_tab(&self) {
        let tab = char::from(Key::Tab);
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: tab })
            .then(KeyAction::Up { value: tab });
        self.must("press Tab", self.client().perform_actions(keys));
    }

    /// The element that has the keyboard focus.
    #[track_caller]
    pub fn focused(&self) -> Focus {
        let script = "const e = document.activeElement || document.body; return { \
                      tag: e.tagName.toLowerCase(), id: e.id || '', \
                      name: e.getAttribute('name') || '', \
                      labels: Array.from(e.labels || []).map(l => l.innerText.trim()) };";
        let v = self.must("read the focus", self.client().execute(script, vec![]));
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Focus {
            tag: s("tag"),
            id: s("id"),
            name: s("name"),
            labels: v["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Runs `script` in the page (`return` its value), with `args` as `arguments`.
    #[track_caller]
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.must("run a script", self.client().execute(script, args))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        kill_group(&mut self.driver);
        if std::thread::panicking() {
            eprintln!(
                "chromedriver's log:\n{}",
                tail(&read(self.driver_log.path()), 4000)
            );
        }
    }
}

/// Chrome's capabilities: headless, fit for a container (no sandbox, no /dev/shm, no
/// GPU), a 1280x900 window, Debian's Chromium when it is there.
fn capabilities(downloads: &Path) -> serde_json::Map<String, Value> {
    let mut options = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            // Overlay-like: the viewport keeps its full width, as on a phone.
            "--hide-scrollbars",
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ],
        // Downloads go to the test's own directory, without asking.
        "prefs": {
            "download.default_directory": downloads.to_str().expect("a UTF-8 path"),
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
        },
    });
    let binary = std::env::var("CARNET_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    if Path::new(&binary).exists() {
        options["binary"] = json!(binary);
    }
    let caps = json!({ "browserName": "chrome", "goog:chromeOptions": options });
    match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// A loopback port nothing listens on now (the listener is dropped at once).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls until chromedriver accepts connections on `port`, or fails if it exits or
/// misses [`DRIVER_DEADLINE`].
fn wait_listening(driver: &mut Child, port: u16) -> Result<(), String> {
    let end = Instant::now() + DRIVER_DEADLINE;
    loop {
        if let Some(status) = driver.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("chromedriver exited ({status}) on port {port}"));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(format!(
                "chromedriver did not listen on port {port} within {DRIVER_DEADLINE:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills chromedriver and every process of its group (Chromium's), and reaps it.
fn kill_group(driver: &mut Child) {
    #[cfg(unix)]
    if let Ok(pgid) = libc::pid_t::try_from(driver.id()) {
        // SAFETY: kill(2) with a negative pid signals the group chromedriver leads.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = driver.kill();
    let _ = driver.wait();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"))
}

fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// `$CARNET_SCREENSHOTS`, or `target/screenshots/` under the workspace root.
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("CARNET_SCREENSHOTS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .join("target")
            .join("screenshots"),
    }
}

/// A `carnet node run` stopped with SIGTERM at the end of the test, or killed if the
/// test fails first (so no node outlives a failed test).
struct Node(Option<Child>);

impl Node {
    fn stop(mut self) {
        let child = self.0.take().expect("a running node");
        assert!(stop(child, "-TERM").success());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sign-in opens Argon2id (a fraction of a second); page loads are quicker.
pub(crate) const PAGE: Duration = Duration::from_secs(30);

#[test]
fn a_member_signs_in_in_chromium_sees_the_dashboard_and_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (node, ready) = start(&data, &["--org", "Acme"]);
    let node = Node(Some(node));
    let data = data.to_str().unwrap().to_owned();
    let key = dir.path().join("alice.key").to_str().unwrap().to_owned();
    let out = crate::carnet(&["member", "new", "alice", "--out", &key, "--data-dir", &data]);
    assert!(out.status.success(), "{out:?}");
    let out = crate::web::set_password(&key, "correct horse battery");
    assert!(out.status.success(), "{out:?}");
    // A card, so the search page has a teaser to show.
    let out = crate::carnet(&[
        "--key",
        &key,
        "contact",
        "add",
        "--name",
        "Jane Doe",
        "--title",
        "VP Sales",
        "--company",
        "Acme",
        "--email",
        "jane.doe@acme.example",
        "--phone",
        "+33 1 42 68 53 00",
        "--city",
        "Paris",
    ]);
    assert!(out.status.success(), "{out:?}");
    let api = format!("http://{}", ready["api"].as_str().unwrap());

    let b = Browser::start();
    b.goto(&format!("{api}/"));
    b.wait_for_text("h1", "Sign in", PAGE);

    // The keyboard: the handle field has the focus on load (autofocus), and Tab goes
    // on to another labelled field, the password.
    let focus = b.focused();
    if focus.id != "handle" || focus.labels != ["Handle"] {
        b.fail(format!(
            "on load, the focus is on {focus:?}, not the labelled handle field"
        ));
    }
    b.press_tab();
    let focus = b.focused();
    if focus.labels.is_empty() || focus.id != "password" {
        b.fail(format!(
            "after Tab, the focus is on {focus:?}, not the labelled password field"
        ));
    }

    b.fill("#handle", "alice");
    b.fill("#password", "correct horse battery");
    b.click("form[action='/sign-in'] button[type=submit]");
    b.wait_for_text("h1", "Hello, alice", PAGE);
    let balance = b.text("dl.balance");
    for term in ["Points", "Pending", "In escrow", "Status", "Active"] {
        if !balance.contains(term) {
            b.fail(format!("the balance section lacks {term:?}: {balance:?}"));
        }
    }
    if b.text("#balance") != "0" {
        b.fail("the balance is not 0");
    }
    b.screenshot("first-dashboard");

    // A phone-sized viewport: the layout is one column, nothing sticks out sideways
    // (long keys and ids wrap).
    b.set_window(390, 844);
    let sticking_out = b.overflowing();
    if !sticking_out.is_empty() {
        b.fail(format!(
            "at 390x844 the dashboard scrolls sideways: {sticking_out:?}"
        ));
    }
    b.screenshot("dashboard-phone");
    b.set_window(WINDOW.0, WINDOW.1);

    b.click("nav a[href='/search']");
    b.wait_for_text("h1", "Search", PAGE);
    b.fill("#company", "acme");
    b.click("form[role=search] button[type=submit]");
    b.wait_for_text("[role=status]", "1–1 of 1", PAGE);
    let teaser = b.text("article.teaser");
    if !teaser.contains("Jane Doe") || !teaser.contains("email, direct line") {
        b.fail(format!("the teaser: {teaser:?}"));
    }
    b.screenshot("first-search");

    // Sign out from the dashboard: the sign-in page again, and search is closed.
    b.click("nav a[href='/']");
    b.wait_for_text("h1", "Hello, alice", PAGE);
    b.click("form[action='/sign-out'] button[type=submit]");
    b.wait_for_text("h1", "Sign in", PAGE);
    if b.current_url() != format!("{api}/") {
        b.fail("signed out, not back at /");
    }
    b.goto(&format!("{api}/search?company=acme"));
    b.wait_for_text("h1", "Sign in", PAGE);
    if b.page_text().contains("Jane Doe") {
        b.fail("a signed-out browser sees teasers");
    }
    drop(b);
    node.stop();
}

/// A DevTools-protocol command through chromedriver's vendor endpoint.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}
