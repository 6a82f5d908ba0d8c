//! The HTML audit report in a real headless browser (Debian's chromium):
//! it loads from a file with no network, its op table sorts both ways when
//! a header is clicked, and the page logs nothing to the console (no error,
//! no uncaught exception).
//!
//! Without a browser the test says so and passes, unless
//! `OPFUSE_REQUIRE_BROWSER` is set, as `.ci/run` sets it (installing
//! chromium when it is missing).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Appended to a copy of the report: clicks the time header twice and puts
/// the column's values after each click into the title; logs one marker so
/// the test knows console capture works.
const PROBE: &str = r#"<script>
console.log("opfuse-probe");
(function () {
  var table = document.getElementById("ops");
  var th = table.querySelectorAll("th")[4];
  var column = function () {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return parseFloat(r.cells[4].getAttribute("data-v")); });
  };
  th.click();
  var ascending = column();
  th.click();
  var descending = column();
  var ops = table.querySelectorAll("th")[0];
  ops.click();
  var names = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[0].textContent; });
  document.title = "PROBE " + JSON.stringify({ ascending: ascending, descending: descending, names: names, svg: document.querySelectorAll("svg rect").length });
})();
</script>
"#;

fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OPFUSE_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()))
    })
}

/// How long the browser may take to load the page and exit.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

/// Loads `page` headless; returns the DOM after the scripts ran and the
/// console lines the browser logged. A browser that hangs is killed.
fn load(browser: &Path, page: &Path, dir: &Path) -> (String, Vec<String>) {
    let (stdout_path, stderr_path) = (dir.join("dom.html"), dir.join("browser.log"));
    let file = |path: &Path| std::fs::File::create(path).expect("a file for the browser's output");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("file://{}", page.display()))
        .stdout(file(&stdout_path))
        .stderr(file(&stderr_path))
        .spawn()
        .expect("the browser starts");
    let started = Instant::now();
    while child.try_wait().expect("the browser can be waited on").is_none() {
        if started.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let console = read(&stderr_path)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect();
    (read(&stdout_path), console)
}

fn sorted(values: &[f64], ascending: bool) -> bool {
    values.windows(2).all(|w| match ascending {
        true => w[0] <= w[1],
        false => w[0] >= w[1],
    })
}

#[test]
fn the_html_report_loads_sorts_and_logs_no_errors_in_chromium() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("OPFUSE_REQUIRE_BROWSER").is_none(),
            "OPFUSE_REQUIRE_BROWSER is set but no chromium is on PATH"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("opfuse-audit-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let report = dir.join("report.html");
    let run = support::opfuse(&[
        "audit",
        "examples/unsupported_ops.opf",
        "--from",
        "h100",
        "--format",
        "html",
        "-o",
        &report.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let html = std::fs::read_to_string(&report).expect("the report was written");
    for external in ["http://", "https://", "src=", "@import"] {
        let uses = html
            .match_indices(external)
            .filter(|(at, _)| !html[..*at].ends_with("xmlns=\""))
            .count();
        assert_eq!(uses, 0, "the page must not load `{external}`");
    }
    let page = dir.join("probe.html");
    std::fs::write(&page, format!("{html}{PROBE}")).expect("write");
    let (dom, console) = load(&browser, &page, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        console.iter().any(|l| l.contains("opfuse-probe")),
        "console capture works: {console:?}\n{dom}"
    );
    let others: Vec<&String> = console.iter().filter(|l| !l.contains("opfuse-probe")).collect();
    assert!(others.is_empty(), "the page logged to the console: {others:?}");
    let title = dom
        .split("<title>PROBE ")
        .nth(1)
        .and_then(|rest| rest.split("</title>").next())
        .unwrap_or_else(|| panic!("the probe did not run:\n{dom}"));
    let probe: serde_json::Value = serde_json::from_str(&title.replace("&quot;", "\"")).expect("probe JSON");
    let column = |key: &str| -> Vec<f64> { probe[key].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect() };
    let (ascending, descending) = (column("ascending"), column("descending"));
    assert_eq!(ascending.len(), 11, "{probe}");
    assert!(sorted(&ascending, true), "first click sorts ascending: {ascending:?}");
    assert!(sorted(&descending, false), "second click sorts descending: {descending:?}");
    let names: Vec<&str> = probe["names"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    let mut expected = names.clone();
    expected.sort_unstable();
    assert_eq!(names, expected, "the op column sorts as text");
    assert!(
        probe["svg"].as_u64().unwrap_or(0) >= 10,
        "the chart draws a bar per kernel group: {probe}"
    );
}
