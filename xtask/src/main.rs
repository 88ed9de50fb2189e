//! Build and test orchestration for Pulse (`cargo xtask <command>`).
//!
//! Builds the hydration bundle without cargo-leptos: `cargo build` of the `frontend` crate for
//! `wasm32-unknown-unknown`, then wasm-bindgen through its library crate, pinned in the
//! workspace to the exact version of the `wasm-bindgen` crate, so no CLI has to be installed and
//! the two can never drift apart. Nothing is downloaded at build time.
//!
//! Commands:
//! - `build [--release]`  the site (wasm, JS, CSS) and the `pulse` binary
//! - `run [-- ARGS]`      release build, then `pulse --demo ARGS`
//! - `test`               fmt, no SQL in `app`, clippy, unit + integration tests on a private Postgres, browser tests
//! - `pg`                 a throwaway Postgres for running `cargo test` by hand; prints its URL

mod no_sql;

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args
        .split_first()
        .map(|(c, r)| (c.as_str(), r))
        .unwrap_or(("help", &[]));
    match cmd {
        "build" => build(rest.iter().any(|a| a == "--release")).map(|_| ()),
        "site" => build_site().map(|_| ()),
        "run" => run(rest),
        "test" => test(),
        "pg" => dev_postgres(),
        _ => {
            eprintln!("usage: cargo xtask <build [--release] | site | run [-- ARGS] | test>");
            Ok(())
        }
    }
}

fn root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR for the running binary too; prefer it to the
    // compile-time value, which is wrong when two checkouts share one CARGO_TARGET_DIR.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().expect("workspace root").to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    // `cargo run` gave this process xtask's package variables. Some build scripts (ring's)
    // track them, so passing them on would make every build from here differ from a plain
    // `cargo build` — and from a clone at another path — and rebuild ring, then everything
    // behind it up to bundled DuckDB (~18 min on 2 cores).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            c.env_remove(key.as_ref());
        }
    }
    c
}

fn check(status: std::io::Result<ExitStatus>, what: &str) -> Result<()> {
    let status = status.with_context(|| format!("could not start: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn step(name: &str) -> Instant {
    println!("\n==> {name}");
    Instant::now()
}

fn done(started: Instant) {
    println!("    done in {:.1}s", started.elapsed().as_secs_f64());
}

/// Sizes of the shipped wasm bundle.
struct SiteReport {
    wasm_raw: u64,
    wasm_gz: u64,
}

/// Builds the wasm bundle and the site assets into `<target>/site/pkg`.
fn build_site() -> Result<SiteReport> {
    let t = step("wasm bundle (frontend → wasm32, profile wasm-release)");
    check(
        cargo()
            .args([
                "build",
                "-p",
                "frontend",
                "--lib",
                "--target",
                "wasm32-unknown-unknown",
                "--profile",
                "wasm-release",
            ])
            .status(),
        "cargo build of the wasm bundle",
    )?;
    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/frontend.wasm");
    let pkg = target_dir().join("site/pkg");
    std::fs::create_dir_all(&pkg)?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .out_name("pulse")
        .typescript(false)
        .generate(&pkg)
        .context("wasm-bindgen")?;
    // Only a recent wasm-opt: Debian bookworm's binaryen 108 produced a bundle that loaded but
    // no longer hydrated (caught by the browser tests), so older versions are skipped.
    let wasm_opt_available = Command::new("wasm-opt")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .find_map(|w| w.parse::<u32>().ok())
        })
        .is_some_and(|version| version >= 116);
    if wasm_opt_available {
        let out = pkg.join("pulse_bg.wasm");
        let status = Command::new("wasm-opt")
            .args([
                "-Oz",
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-reference-types",
                "--enable-multivalue",
            ])
            .arg(&out)
            .arg("-o")
            .arg(&out)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            println!("    wasm-opt failed; shipping the unoptimised bundle");
        }
    }
    let root = root();
    std::fs::copy(root.join("style/main.css"), pkg.join("pulse.css"))
        .context("copy style/main.css")?;
    for entry in std::fs::read_dir(root.join("style/assets"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), pkg.join(entry.file_name()))?;
    }
    // Pre-compressed copies; the server serves them to clients that accept gzip.
    for name in ["pulse_bg.wasm", "pulse.js", "pulse.css"] {
        gzip(&pkg.join(name))?;
    }
    let report = SiteReport {
        wasm_raw: std::fs::metadata(pkg.join("pulse_bg.wasm"))?.len(),
        wasm_gz: std::fs::metadata(pkg.join("pulse_bg.wasm.gz"))?.len(),
    };
    println!(
        "    wasm: {} KiB raw, {} KiB gzipped ({})",
        report.wasm_raw / 1024,
        report.wasm_gz / 1024,
        if wasm_opt_available {
            "wasm-opt applied"
        } else {
            "no wasm-opt 116+ on PATH"
        }
    );
    done(t);
    Ok(report)
}

fn gzip(path: &Path) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&data)?;
    let mut out = path.as_os_str().to_owned();
    out.push(".gz");
    std::fs::write(out, gz.finish()?)?;
    Ok(())
}

/// Builds the site and the server binary; returns the binary's path.
fn build(release: bool) -> Result<PathBuf> {
    build_site()?;
    let t = step(if release {
        "server (release)"
    } else {
        "server (debug)"
    });
    let mut c = cargo();
    if release {
        c.args(["build", "-p", "server", "--bin", "pulse", "--release"]);
    } else {
        // The test run builds the whole workspace with all targets, as clippy and `cargo test
        // --workspace` do: the same package set gives build scripts the same dependency
        // features, so bundled DuckDB (~20 min of C++) is compiled once, not once per set.
        c.args(["build", "--workspace", "--all-targets"]);
    }
    check(c.status(), "cargo build of the server")?;
    done(t);
    Ok(target_dir()
        .join(if release { "release" } else { "debug" })
        .join("pulse"))
}

fn run(args: &[String]) -> Result<()> {
    let bin = build(true)?;
    let args: Vec<&String> = args.iter().filter(|a| *a != "--").collect();
    println!("\n==> starting Pulse with demo data");
    let status = Command::new(bin)
        .current_dir(root())
        .arg("--demo")
        .args(args)
        .status()?;
    if !status.success() {
        bail!("pulse exited with {status}");
    }
    Ok(())
}

/// The tansu version `scripts/setup --test` installs.
const TANSU_VERSION: &str = "0.6.0";

/// A tansu broker on a free loopback port, with in-memory storage.
struct Broker {
    child: Child,
    address: String,
    bin: PathBuf,
}

impl Broker {
    fn bin() -> PathBuf {
        if let Some(b) = std::env::var_os("PULSE_TANSU_BIN") {
            return PathBuf::from(b);
        }
        let tools = std::env::var_os("PULSE_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/pulse/tools")
            });
        tools.join(format!("tansu-{TANSU_VERSION}/bin/tansu"))
    }

    fn start(scratch: &Path) -> Result<Broker> {
        let bin = Self::bin();
        if !bin.exists() {
            bail!(
                "{} is missing: run `scripts/setup --test` (it installs the tansu Kafka broker)",
                bin.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(scratch.join("tansu.log"))?;
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://{address}"),
                "--advertised-listener-url",
                &format!("tcp://{address}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut broker = Broker {
            child,
            address,
            bin,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&broker.address).is_err() {
            if Instant::now() > deadline || broker.child.try_wait()?.is_some() {
                broker.stop();
                bail!(
                    "tansu did not start; see {}",
                    scratch.join("tansu.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(broker)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dev_postgres() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = std::env::temp_dir().join("pulse-dev-postgres");
    let cluster = rt.block_on(managed_pg::Cluster::start(managed_pg::ClusterOptions::new(
        dir.join("postgres"),
    )))?;
    println!("export PULSE_TEST_DATABASE_URL={}", cluster.url("postgres"));
    println!("(Ctrl-C stops it)");
    rt.block_on(tokio::signal::ctrl_c())?;
    rt.block_on(cluster.stop())?;
    Ok(())
}

fn test() -> Result<()> {
    let started = Instant::now();
    let t = step("format check");
    check(
        cargo().args(["fmt", "--all", "--check"]).status(),
        "cargo fmt --check (run `cargo fmt`)",
    )?;
    done(t);
    let t = step("no SQL in app/src");
    let found = no_sql::scan(&root().join("app/src"))?;
    if !found.is_empty() {
        for f in &found {
            eprintln!("{}:{}: {}", f.file.display(), f.line, f.text);
        }
        bail!("app/ runs SQL: move these queries into a service crate and call it from the server function");
    }
    done(t);
    let t = step("clippy");
    check(
        cargo()
            .args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .status(),
        "cargo clippy",
    )?;
    done(t);
    let bin = build(false)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scratch = std::env::temp_dir().join(format!("pulse-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let t = step("private Postgres for the integration tests");
    let mut opts = managed_pg::ClusterOptions::new(scratch.join("postgres"));
    // Throwaway data: durability settings off make database-per-test setup fast.
    opts.settings = vec![
        ("fsync".into(), "off".into()),
        ("synchronous_commit".into(), "off".into()),
        ("full_page_writes".into(), "off".into()),
    ];
    let cluster = rt.block_on(managed_pg::Cluster::start(opts))?;
    done(t);
    let t = step("Kafka-protocol broker (tansu) for the Kafka bus tests");
    let mut broker = Broker::start(&scratch)?;
    done(t);

    let result = (|| -> Result<()> {
        let t = step("unit and integration tests");
        check(
            cargo()
                .args(["test", "--workspace"])
                .env("PULSE_TEST_DATABASE_URL", cluster.url("postgres"))
                .env("PULSE_TEST_KAFKA_BROKERS", &broker.address)
                .env("PULSE_TEST_TANSU_BIN", &broker.bin)
                .env("PULSE_TEST_BIN", &bin)
                // The SDK compatibility suite's packages, installed by `scripts/setup --test`.
                .env("PULSE_SDKS_DIR", sdks_dir())
                .status(),
            "cargo test",
        )?;
        done(t);
        let t = step("web SDK unit tests (node --test sdk/test/)");
        check(
            Command::new("node")
                .args(["--test", "sdk/test/"])
                .current_dir(root())
                .status(),
            "SDK unit tests",
        )?;
        done(t);
        browser_tests(&bin, &scratch)
    })();
    broker.stop();
    rt.block_on(cluster.stop())?;
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    println!(
        "\nAll checks passed in {:.1} min.",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// Where `scripts/setup --test` installs the third-party SDKs the compatibility suite runs.
fn sdks_dir() -> PathBuf {
    std::env::var_os("PULSE_SDKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/pulse/sdks")
        })
}

/// Starts `pulse --demo` on its own managed Postgres and runs the Playwright suite against it.
fn browser_tests(bin: &Path, scratch: &Path) -> Result<()> {
    let e2e = root().join("end2end");
    // Install when the lock file changed since the last install (a stamp copy of it).
    let lock = std::fs::read(e2e.join("package-lock.json")).unwrap_or_default();
    let stamp = std::fs::read(e2e.join("node_modules/.pulse-lock")).unwrap_or_default();
    if lock != stamp {
        let t = step("browser test dependencies (npm ci)");
        check(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&e2e)
                .status(),
            "npm ci",
        )?;
        std::fs::write(e2e.join("node_modules/.pulse-lock"), &lock)?;
        done(t);
    }
    let t = step("browser tests (Playwright, headless Chromium)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = scratch.join("pulse-e2e.log");
    let log = std::fs::File::create(&log_path)?;
    let mut server = Command::new(bin)
        .arg("--demo")
        .env("PULSE_BIND", format!("127.0.0.1:{port}"))
        .env("PULSE_DATA_DIR", scratch.join("e2e-data"))
        // Synthetic visits would put alerts into the inboxes the tests read.
        .env("PULSE_DEMO_TRAFFIC", "false")
        // model.spec moves event time 12 minutes ahead to pass the flagship label's 10-minute
        // deadline and its minute of allowed lateness without waiting; the gateway's default tolerance (10 minutes) would clamp
        // that event to the present. The clamp itself is tested at its default in
        // server/tests/gateway_compat.rs.
        .env("PULSE_FUTURE_TOLERANCE_SECONDS", "900")
        .env_remove("DATABASE_URL")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start pulse for the browser tests")?;
    let outcome = wait_ready(&mut server, &base).and_then(|_| {
        check(
            Command::new("npx")
                .args(["playwright", "test"])
                .current_dir(&e2e)
                .env("PULSE_BASE_URL", &base)
                .status(),
            "playwright tests",
        )
    });
    let stopped = stop_gracefully(&mut server);
    if outcome.is_err() || stopped.is_err() {
        println!("    server log ({}):", log_path.display());
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        for line in text
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            println!("    | {line}");
        }
    }
    outcome?;
    stopped?;
    done(t);
    Ok(())
}

fn wait_ready(server: &mut Child, base: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait()? {
            bail!("pulse exited before it was ready ({status})");
        }
        if let Ok(out) = Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", &format!("{base}/readyz")])
            .output()
        {
            if out.status.success() {
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("pulse was not ready after 120 s");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// SIGTERM must shut Pulse down cleanly (it stops its Postgres too) within 30 s.
fn stop_gracefully(server: &mut Child) -> Result<()> {
    check(
        Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status(),
        "kill -TERM",
    )?;
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait()? {
            if !status.success() {
                bail!("pulse exited with {status} after SIGTERM; expected a clean shutdown");
            }
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            server.kill()?;
            bail!("pulse did not shut down within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
