"""`report`: the page a non-engineer reads, built from fixture runs (tests/reportdata.py, shaped by the real
Timeline) and real stores, then looked at in a real headless Chromium: the visible headline, trend points and
freshness states, no network request of any kind, phone and print layouts, screenshots kept as artifacts."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cattle.dr import history
from cattle.report import model as reportmodel
from cattle.report import page as report
from cattle.report.model import THRESHOLDS
from cattle.secrets import keys
from cattle.stores import FileStore
from cattle.vault import snapshots
from tests import reportdata
from tests.conftest import REPO
from tests.reportdata import NOW

ARTIFACTS = Path(os.environ.get("CATTLE_TEST_ARTIFACTS") or REPO / ".cattle" / "test-artifacts") / "report"
def _first(*candidates: str | None) -> Path:
    """The first candidate that exists (else the first one, named in the skip message)."""
    found = [Path(c) for c in candidates if c]
    return next((p for p in found if p.exists()), found[0])


# Debian's chromium (scripts/setup --test), else a Chrome already there (GitHub's runners: google-chrome, and
# chromedriver under $CHROMEWEBDRIVER)
CHROMIUM = _first("/usr/bin/chromium", shutil.which("chromium"), shutil.which("google-chrome"))
CHROMEDRIVER = _first("/usr/bin/chromedriver", shutil.which("chromedriver"),
                      os.path.join(os.environ["CHROMEWEBDRIVER"], "chromedriver")
                      if os.environ.get("CHROMEWEBDRIVER") else None)
HOUR = 3600.0


def _git(root: Path, *args: str, when: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    if when:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True).stdout


def _sops_yaml(recipients: dict[str, str]) -> str:
    rules = "".join(f"  - path_regex: (^|/)secrets/{env}/[^/]+\\.secret\\.ya?ml$\n"
                    f"    encrypted_regex: ^(data|stringData)$\n    age: {key}\n" for env, key in recipients.items())
    return f"creation_rules:\n{rules}"


def _point_stores(root: Path, env: str, vault: str, database: str) -> None:
    path = root / "clusters" / env / "environment.yaml"
    text = re.sub(r"(?m)^  vault: .*$", f"  vault: {vault}", path.read_text())
    path.write_text(re.sub(r"(?m)^  database: .*$", f"  database: {database}", text))


def _vault_store(directory: Path, env: str, created: float) -> None:
    """A snapshot manifest (the data object is a stand-in: freshness reads manifests only)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    snapshot_id = time.strftime("%Y%m%dT%H%M%S.000000Z-abc123", time.gmtime(created))
    manifest = snapshots.Manifest(snapshot_id, env, stamp, "2.6.2", 3, "00" * 32, "11" * 32, ["age1x"], "k1", "fp",
                                  snapshot_id)
    snapshots.save(FileStore(f"file://{directory}", directory), manifest, b"age")


def _database_store(directory: Path, base_ended: float, wal_written: float) -> None:
    """A barman layout: generation g3 with one DONE base backup and one archived WAL file."""
    ended = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime(base_ended))
    info = directory / "feeds-db-g3/base/20261123T031500/backup.info"
    info.parent.mkdir(parents=True)
    info.write_text(f"status=DONE\nend_time={ended}\nversion=170006\nsize=123456\n")
    wal = directory / "feeds-db-g3/wals/0000000100000000/000000010000000000000042.gz"
    wal.parent.mkdir(parents=True)
    wal.write_bytes(b"wal")
    os.utime(wal, (wal_written, wal_written))


@pytest.fixture
def report_repo(repo_copy: Path, key_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout whose .sops.yaml was committed on 2026-10-01, holding testing's key file (created
    2026-09-01), file stores for testing and staging, an unreachable S3 store for production, the fixture records
    on the history branch and generation 1's bootstrap in .cattle/runs."""
    from pyrage import x25519

    identities = {env: x25519.Identity.generate() for env in ("production", "staging", "testing")}
    (repo_copy / ".sops.yaml").write_text(_sops_yaml({e: str(i.to_public()) for e, i in identities.items()}))
    keys.key_dir().mkdir(parents=True)
    keys.key_file("testing").write_text(f"# created: 2026-09-01T10:00:00Z\n# public key: "
                                        f"{identities['testing'].to_public()}\n{identities['testing']}\n")
    keys.key_file("testing").chmod(0o600)
    _git(repo_copy, "init", "--quiet", "--initial-branch=main")
    _git(repo_copy, "add", ".sops.yaml")
    _git(repo_copy, "commit", "--quiet", "-m", "keys", when="2026-10-01T12:00:00Z")
    stores = tmp_path / "stores"
    _point_stores(repo_copy, "testing", f"file://{stores}/testing-vault", f"file://{stores}/testing-db")
    _point_stores(repo_copy, "staging", f"file://{stores}/staging-vault", f"file://{stores}/staging-db")
    _vault_store(stores / "testing-vault", "testing", NOW - 3 * HOUR)  # fresh
    _database_store(stores / "testing-db", NOW - 30 * HOUR, NOW - 2 * HOUR)  # base backup aging, WAL stale
    _vault_store(stores / "staging-vault", "staging", NOW - 5 * HOUR)
    _database_store(stores / "staging-db", NOW - 10 * HOUR, NOW - 4 * 60)  # all fresh
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # production's S3 store: nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "report-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "report-test")
    history.import_directory(repo_copy, reportdata.DATA / "branch")
    shutil.copytree(reportdata.DATA / "local", repo_copy / ".cattle" / "runs")
    return repo_copy


@pytest.fixture
def built(report_repo: Path, tmp_path: Path) -> report.Built:
    return report.build(report_repo, tmp_path / "site", now=NOW)


# --- the facts and the words, without a browser -------------------------------------------------------------


def test_the_fixtures_are_what_cattle_writes(tmp_path: Path) -> None:
    reportdata.write(tmp_path)
    for made in sorted(tmp_path.rglob("*.json")):
        kept = reportdata.DATA / made.relative_to(tmp_path)
        assert kept.is_file() and json.loads(kept.read_text()) == json.loads(made.read_text()), \
            f"{kept} differs from what tests/reportdata.py makes: run python -m tests.reportdata"
    assert len(list(tmp_path.rglob("*.json"))) == len(list(reportdata.DATA.rglob("*.json")))


def test_the_db_verify_fixture_has_the_shape_db_verify_records(tmp_path: Path) -> None:
    """tasks.db_verify records through history.recording; the fixture must carry the same keys."""
    with history.recording(tmp_path, "db-verify", "staging", store="s3://b/p") as record:
        record.update(generation=3, backup_id="x", wal_files=1, seconds=1.0, detail="d")
    [written] = (tmp_path / ".cattle" / "runs").glob("staging-db-verify-*.json")
    fixture = reportdata.db_verify("staging", "2026-11-23T04:45:00Z", "b", 1)
    assert set(json.loads(written.read_text())) == set(fixture)


def test_headlines_in_plain_words(built: report.Built) -> None:
    envs = {e.name: e for e in built.report.envs}
    assert envs["testing"].headline() == "testing: rebuilt in 9m12s on 2026-11-23, within the 15-minute budget."
    assert envs["testing"].proof_level == "ok"
    assert envs["staging"].headline() == ("staging: no drill recorded. Its real backups were restored in a rehearsal "
                                          "on 2026-11-23: vault and secrets READY, database RESTORED.")
    assert envs["production"].headline().startswith("production: never drilled (protected: a drill destroys the "
                                                     "cluster).")
    assert "vault and secrets NOT READY" in envs["production"].headline()
    # a rehearsal that did not pass restored nothing: it is not called a restore, and its cause is named
    assert "Its real backups were restored" not in envs["production"].headline()
    assert ("A restore rehearsal of its real backups on 2026-11-23 did not pass: vault and secrets NOT READY, "
            "database RESTORED (recent Vault snapshot: the latest Vault snapshot") in envs["production"].headline()
    assert envs["production"].proof_level == "bad"


def test_trend_holds_the_drills_only_oldest_first(built: report.Built) -> None:
    testing = {e.name: e for e in built.report.envs}["testing"]
    assert [(r.kind, round(r.rto), r.verdict) for r in testing.rebuilds] == [
        ("drill", 520, "WITHIN BUDGET"), ("drill", 595, "WITHIN BUDGET"), ("drill", 980, "OVER BUDGET"),
        ("drill", 362, "FAILED"), ("drill", 552, "WITHIN BUDGET")]
    failed = testing.rebuilds[3]
    assert failed.detail == ("reconcile: Kustomization flux-system/apps: HelmRelease feeds/miniflux install failed")
    latest = testing.latest
    assert latest is not None and latest.critical_path == ("secrets", "platform-controllers", "apps")
    assert [p.name for p in latest.phases if p.critical] == ["reconcile secrets", "reconcile platform-controllers",
                                                             "reconcile apps"]
    assert latest.pulling == 250 and latest.pulls is not None and len(latest.pulls) == 9


def test_freshness_against_the_thresholds(built: report.Built) -> None:
    words = {e.name: [(f.threshold.key, f.word) for f in e.freshness] for e in built.report.envs}
    assert words["testing"] == [("vault", "FRESH"), ("base-backup", "AGING"), ("wal", "STALE")]
    assert words["staging"] == [("vault", "FRESH"), ("base-backup", "FRESH"), ("wal", "FRESH")]
    assert words["production"] == [("vault", "UNREACHABLE"), ("base-backup", "UNREACHABLE"), ("wal", "UNREACHABLE")]
    production = {e.name: e for e in built.report.envs}["production"]
    assert all("cannot reach the backup store s3://cattle-backups/production" in f.problem
               for f in production.freshness)


def test_key_custody_names_where_each_date_comes_from(built: report.Built) -> None:
    custody = {e.name: e.keys for e in built.report.envs}
    own = custody["testing"][0]
    assert own.role == "environment key" and reportmodel.day(own.rotated or 0) == "2026-09-01"
    assert "(its '# created:' line)" in own.how
    staging = custody["staging"][0]
    assert reportmodel.day(staging.rotated or 0) == "2026-10-01"
    assert staging.how.startswith("git log of .sops.yaml: the staging rule got this recipient in commit ")
    assert custody["staging"][1].role == "break-glass key" and custody["staging"][1].rotated is None
    assert "not configured" in custody["staging"][1].how


def test_a_rotation_is_dated_by_the_commit_that_changed_the_rule(report_repo: Path) -> None:
    from pyrage import x25519

    from cattle.report import custody

    text = (report_repo / ".sops.yaml").read_text()
    old = re.search(r"secrets/staging/.*\n.*\n    age: (\S+)", text)
    assert old is not None
    new_key = str(x25519.Identity.generate().to_public())
    (report_repo / ".sops.yaml").write_text(text.replace(old.group(1), new_key))
    assert custody.env_keys(report_repo, "staging")[0].how == (
        "unknown: .sops.yaml has it in the working tree only (not committed yet)")
    _git(report_repo, "commit", "--quiet", "-am", "rotate staging", when="2026-11-20T09:00:00Z")
    _git(report_repo, "commit", "--quiet", "--allow-empty", "-m", "later", when="2026-11-21T09:00:00Z")
    assert reportmodel.day(custody.env_keys(report_repo, "staging")[0].rotated or 0) == "2026-11-20"
    assert reportmodel.day(custody.env_keys(report_repo, "production")[0].rotated or 0) == "2026-10-01"


def test_stale_proof_is_said_in_words(built: report.Built) -> None:
    testing = {e.name: e for e in built.report.envs}["testing"]
    later = reportmodel.EnvReport(**{**testing.__dict__, "now": NOW + 20 * 86400})
    assert later.recency == "bad" and later.proof_level == "bad"
    assert later.headline().endswith("No newer drill in 21 days (one a week is expected).")


def test_the_page_is_self_contained(built: report.Built) -> None:
    page = built.page.read_text()
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"""\b(?:src|href|xlink:href|action|poster|srcset)\s*=\s*["']?+(?!#)""", page), \
        "an attribute that loads or links something outside the page"
    tags = re.findall(r"<[^>]*://[^>]*>", page)  # addresses in the text (a phase's detail) are words, not requests
    assert tags and all(re.fullmatch(r'<svg xmlns="http://www\.w3\.org/2000/svg"[^:]*>', t) for t in tags), tags


def test_thresholds_are_documented_as_they_are(built: report.Built) -> None:
    doc = (REPO / "docs" / "report.md").read_text()
    for threshold in THRESHOLDS:
        row = f"| {threshold.what} | {reportmodel.span(threshold.ok)} | {reportmodel.span(threshold.warn)} |"
        assert row in doc, f"docs/report.md lacks the row {row!r}"


def test_badges(built: report.Built) -> None:
    badge = (built.directory / "badge.svg").read_text()
    assert 'aria-label="recovery drill: testing 9m12s ≤ 15m"' in badge and "#1a7f37" in badge
    assert "failed" in (built.directory / "badge-production.svg").read_text()
    data = json.loads((built.directory / "report.json").read_text())
    assert [e["name"] for e in data["envs"]] == ["production", "staging", "testing"]


def test_the_task_builds_the_page_and_appends_the_summary(report_repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    proc = subprocess.run([str(REPO / ".venv/bin/invoke") if (REPO / ".venv/bin/invoke").exists() else "invoke",
                           "report", "--output", str(tmp_path / "out"), "--env", "testing", "--summary",
                           str(summary)], cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
                          env={**os.environ, "CATTLE_REPO": str(report_repo)})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "index.html").is_file() and (tmp_path / "out" / "badge.svg").is_file()
    text = summary.read_text()
    assert text.startswith("## Recovery report\n\n**Can we rebuild everything within 15 minutes today?** Not "
                           "proven, because ")
    assert "`./scripts/cattle audit --env testing`" in text  # each cause with the command that fixes it
    assert "- **" in text and "testing: " in text and "staging" not in text


# --- looked at in a real browser ----------------------------------------------------------------------------


def _browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        return (f"no headless browser here ({', '.join(missing)} missing): install Debian's chromium and "
                "chromium-driver (./scripts/setup --test does), or Chrome with its chromedriver")
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager is never needed: both paths are given
    profile = tempfile.mkdtemp(prefix="cattle-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver: Any, page: Path) -> list[str]:
    """Load the page; every URL the browser requested for it (from Chrome's network log)."""
    driver.get("about:blank")
    driver.get_log("performance")  # drain: what the browser did before this page is not the page's doing
    driver.get(page.as_uri())
    driver.execute_script("return document.readyState")
    requested = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    return requested


def _screenshot(driver: Any, path: Path, width: int, mobile: bool) -> None:
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot ({'phone' if mobile else 'desktop'}, {width}px): {path}")


def _emulate(driver: Any, width: int, height: int, mobile: bool) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


@pytest.mark.xdist_group("chromium")
def test_desktop_shows_the_proof_and_fetches_nothing(browser: Any, built: report.Built) -> None:
    from selenium.webdriver.common.by import By

    _emulate(browser, 1280, 900, False)
    requested = _open(browser, built.page)
    assert requested == [built.page.as_uri()], f"the page made requests of its own: {requested}"
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "testing: rebuilt in 9m12s on 2026-11-23, within the 15-minute budget." in body
    assert "production: never drilled (protected: a drill destroys the cluster)." in body
    testing = browser.find_element(By.ID, "env-testing")
    wide_trend = testing.find_element(By.CSS_SELECTOR, ".wide svg")
    values = [t.text for t in wide_trend.find_elements(By.CSS_SELECTOR, "text.value")]
    assert values == ["8m40s", "9m55s", "16m20s", "failed 6m02s", "9m12s"]
    rows = [r.text for r in testing.find_elements(By.CSS_SELECTOR, "table")[0].find_elements(By.CSS_SELECTOR,
                                                                                               "tbody tr")]
    assert rows[0].startswith("2026-11-23 04:23 drill ✓ WITHIN BUDGET 9m12s 5m48s to spare 4m10s")
    assert "✗ FAILED 6m02s failed after 6m02s" in rows[1] and "! " not in rows[1]
    assert "✗ OVER BUDGET 16m20s 1m20s over" in rows[2]
    freshness = {e: [c.text for c in browser.find_element(By.ID, f"env-{e}").find_elements(
        By.XPATH, ".//h3[contains(., 'how fresh')]/following-sibling::div[1]//tbody/tr/td[5]")]
        for e in ("testing", "staging", "production")}
    assert freshness == {"testing": ["✓ FRESH", "! AGING", "✗ STALE"], "staging": ["✓ FRESH"] * 3,
                         "production": ["✗ UNREACHABLE"] * 3}
    assert "cannot reach the backup store s3://cattle-backups/production/vault" in body
    assert "Critical path (the chain of Flux layers that decided the total): secrets → platform-controllers → apps" \
        in body
    assert "8 images pulled (1.33Gi) between the first pull and the last: 4m10s, 45% of the RTO. 1 was already on " \
        "the node." in body
    _screenshot(browser, ARTIFACTS / "desktop.png", 1280, False)
    (ARTIFACTS / "index.html").write_text(built.page.read_text())


@pytest.mark.xdist_group("chromium")
def test_phone_gets_charts_drawn_for_its_width_and_no_sideways_scrolling(browser: Any,
                                                                          built: report.Built) -> None:
    from selenium.webdriver.common.by import By

    _emulate(browser, 390, 844, True)
    try:
        _open(browser, built.page)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        testing = browser.find_element(By.ID, "env-testing")
        assert not testing.find_element(By.CSS_SELECTOR, ".wide svg").is_displayed()
        narrow = testing.find_element(By.CSS_SELECTOR, ".narrow svg")
        assert narrow.is_displayed() and narrow.size["width"] <= 360
        labels = [t.text for t in narrow.find_elements(By.CSS_SELECTOR, "text.value")]
        assert labels == ["16m20s", "failed 6m02s", "9m12s"]  # the latest and every miss, at a readable size
        size = browser.execute_script("return getComputedStyle(arguments[0]).fontSize",
                                      narrow.find_element(By.CSS_SELECTOR, "text.value"))
        assert float(size.removesuffix("px")) >= 11
        assert "testing: rebuilt in 9m12s" in browser.find_element(By.CSS_SELECTOR, ".glance").text
        # the boss's answer is on the first screen, whole, and readable
        answer = browser.find_element(By.CSS_SELECTOR, ".answer")
        assert answer.is_displayed() and answer.text.startswith("✗ NOT PROVEN Not proven, because ")
        assert answer.location["y"] + answer.size["height"] <= 844 and answer.size["width"] <= 390
        numbers = testing.find_element(By.XPATH, "//section[@class='glance']//dl")
        assert "Time to recover" in numbers.text and "A rebuild now would lose" in numbers.text
        _screenshot(browser, ARTIFACTS / "phone.png", 390, True)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.xdist_group("chromium")
def test_accessible_labels_contrast_and_words(browser: Any, built: report.Built) -> None:
    _emulate(browser, 1280, 900, False)
    _open(browser, built.page)
    facts = browser.execute_script("""
        const luminance = (rgb) => {
          const [r, g, b] = rgb.match(/\\d+/g).slice(0, 3).map(Number).map(v => v / 255)
            .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        const states = [...document.querySelectorAll('.state')].map(e => {
          const s = getComputedStyle(e);
          return {text: e.textContent, ratio: ratio(luminance(s.color), luminance(s.backgroundColor))};
        });
        const svgs = [...document.querySelectorAll('main svg')].map(svg => ({
          role: svg.getAttribute('role'),
          title: (svg.getAttribute('aria-labelledby') || '').split(' ')
                 .map(id => (document.getElementById(id) || {}).textContent || '').join(' ')}));
        return {lang: document.documentElement.lang, states, svgs,
                tables: [...document.querySelectorAll('table')].map(t => !!t.caption && t.caption.textContent),
                figures: [...document.querySelectorAll('figure')].map(f =>
                  f.nextElementSibling && f.nextElementSibling.querySelector('table') !== null)};
    """)
    assert facts["lang"] == "en"
    assert facts["states"] and all(s["ratio"] >= 4.5 for s in facts["states"]), facts["states"]
    assert all(s["text"].strip() for s in facts["states"])  # a word, never colour alone
    assert facts["svgs"] and all(s["role"] == "img" and len(s["title"]) > 40 for s in facts["svgs"]), facts["svgs"]
    assert all(facts["tables"]), "a table without a caption"
    assert facts["figures"] and all(facts["figures"]), "a chart without the table of its numbers right after it"


@pytest.mark.xdist_group("chromium")
def test_print_keeps_the_wide_charts_and_drops_the_navigation(browser: Any, built: report.Built) -> None:
    from selenium.webdriver.common.by import By

    _emulate(browser, 1280, 900, False)
    _open(browser, built.page)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not browser.find_element(By.TAG_NAME, "nav").is_displayed()
        testing = browser.find_element(By.ID, "env-testing")
        assert testing.find_element(By.CSS_SELECTOR, ".wide svg").is_displayed()
        assert not testing.find_element(By.CSS_SELECTOR, ".narrow svg").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "print.pdf").write_bytes(base64.b64decode(pdf["data"]))
    assert (ARTIFACTS / "print.pdf").read_bytes().startswith(b"%PDF")
    print(f"printed: {ARTIFACTS / 'print.pdf'}")


@pytest.mark.xdist_group("chromium")
def test_the_network_check_sees_a_planted_request(browser: Any, built: report.Built, tmp_path: Path) -> None:
    """The request log is not blind: a stylesheet from elsewhere planted in the page shows up in it."""
    planted = tmp_path / "planted.html"
    planted.write_text(built.page.read_text().replace(
        "</head>", '<link rel="stylesheet" href="http://127.0.0.1:9/cdn.css"></head>'))
    requested = _open(browser, planted)
    assert "http://127.0.0.1:9/cdn.css" in requested and requested[0] == planted.as_uri()


def test_runs_that_stopped_at_preflight_are_not_failed_drills(report_repo: Path, tmp_path: Path) -> None:
    """Issue 31, item 8: a drill, rehearsal or db.verify refused at preflight is recorded as not run and the page
    counts none of them: the headline stays the last real drill, and a note says what did not start."""
    from cattle.errors import DatabaseError

    later = reportdata.at("2026-11-24T05:00:00Z")
    records = tmp_path / "records"
    records.mkdir()
    (records / "testing-drill.json").write_text(json.dumps({
        "kind": "drill", "env": "testing", "started": later, "result": history.NOT_RUN, "events": [],
        "rto_seconds": 0.0, "rto_budget_seconds": 900, "detail": history.stopped_at_preflight("docker: not found")}))
    with pytest.raises(DatabaseError), history.recording(report_repo, "db-verify", "testing") as record:
        record["stage"] = history.PREFLIGHT
        raise DatabaseError("cannot read the database backup store s3://b/p: Unable to locate credentials")
    [written] = sorted((report_repo / ".cattle" / "runs").glob("testing-db-verify-*.json"))
    saved = json.loads(written.read_text())
    assert saved["result"] == "not run" and "stage" not in saved
    assert saved["detail"].startswith("stopped at preflight, nothing was changed: cannot read the database")
    testing = {e.name: e for e in report.build(report_repo, tmp_path / "site", now=NOW,
                                               records=(records,)).report.envs}["testing"]
    assert testing.headline() == "testing: rebuilt in 9m12s on 2026-11-23, within the 15-minute budget."
    assert all(r.result != "not run" for r in testing.rebuilds)
    assert all(r.result != "not run" for r in testing.rehearsals)
    assert any("did not start (not counted as drills or rehearsals)" in note for note in testing.notes)


def test_a_rehearsal_on_a_machine_without_the_key_is_not_run() -> None:
    from cattle.dr.rehearse import Finding, Rehearsal

    rehearsal = Rehearsal("testing")
    rehearsal.findings += [Finding("tools", True, "ok"), Finding("secrets decrypt", False, "no age key"),
                           Finding("Vault snapshot restores", False, "no age key")]
    record = rehearsal.as_record()
    assert record["result"] == "not run" and record["detail"].startswith("stopped at preflight")
