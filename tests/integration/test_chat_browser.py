"""The chat demo in a real browser (Debian's headless Chromium, driven by
Selenium): the page joins and chats, the business group is reloaded to a new
version, and the page goes on chatting on the same WebSocket, the answers now
from the new version. A screenshot is saved (build/test-artifacts/chat.png)."""
import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, build_module, wait_until

ARTIFACTS = ROOT / "build" / "test-artifacts"


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="smooth-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # Headless, as root, and quiet: this machine's network is closed, and
    # Chromium's background services would only fail at it.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1000,760"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def lines(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log div")]


def say(driver, text):
    box = driver.find_element(By.ID, "text")
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#form button").click()


def join(driver, wait, port, name):
    """Opens the chat page, waits for its WebSocket, and joins as `name`."""
    driver.get(f"http://127.0.0.1:{port}/")
    wait.until(lambda d: d.find_element(By.ID, "status").text == "connected")
    box = driver.find_element(By.ID, "name")
    box.clear()
    box.send_keys(name)
    driver.find_element(By.ID, "join").click()


def test_chat_in_a_browser_through_a_business_reload(smooth, tmp_path, browser):
    module = build_module("chat", tmp_path / "chat.so", "v1")
    gateway_module = build_module("chat", tmp_path / "page.so", "v1")
    srv = smooth.start(groups={
        "gateway": {"listen": "ws", "role": "gateway", "backend": "chat", "count": 1, "module": str(gateway_module)},
        "chat": {"listen": "tcp", "role": "business", "count": 2, "module": str(module)},
    })
    wait_until(lambda: srv.workers("gateway")[0]["links"] == 2, what="the gateway linked to both business workers")
    wait = WebDriverWait(browser, 15)
    join(browser, wait, srv.port("gateway"), "ann")
    say(browser, "hello from v1 times")
    wait.until(lambda d: any("ann: hello from v1 times" in l and "chat v1]" in l for l in lines(d)))

    build_module("chat", module, "v2")
    r = srv.reload()
    assert r.returncode == 0, r.stdout
    say(browser, "still here after the reload")
    wait.until(lambda d: any("ann: still here after the reload" in l and "chat v2]" in l for l in lines(d)))

    # The same connection all along: the page opened one WebSocket, and it is open.
    assert browser.find_element(By.ID, "opens").text == "1"
    assert browser.find_element(By.ID, "status").text == "connected"
    pids = {l.split("[pid ")[1].split(",")[0] for l in lines(browser) if "[pid " in l}
    assert len(pids) >= 2, f"answers from {pids}: the business workers were not replaced"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "chat.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000


def test_chat_in_a_browser_through_an_upgrade_and_a_gateway_reload(smooth, tmp_path, browser):
    """The gateway worker that holds the tab's WebSocket is replaced twice:
    by `./server upgrade` and by a reload of its group (reloadable =
    handover). Each time it hands the connection to its successor
    (docs/gateway.md, the hand-over): the page never reconnects, and its
    "connections opened" stays at 1. The screenshot is docs/chat-handover.png."""
    module = build_module("chat", tmp_path / "chat.so", "v1")
    srv = smooth.start(groups={
        "gateway": {"listen": "ws", "role": "gateway", "backend": "chat", "count": 1, "module": str(module),
                    "reloadable": "handover"},
        "chat": {"listen": "tcp", "role": "business", "count": 1, "module": str(module)},
    })
    linked = lambda: all(w["links"] >= 1 and w["state"] == "ready" for w in srv.workers("gateway"))
    wait_until(linked, what="the gateway linked")
    wait = WebDriverWait(browser, 15)
    join(browser, wait, srv.port("gateway"), "ann")
    say(browser, "before the upgrade")
    wait.until(lambda d: any("ann: before the upgrade" in l for l in lines(d)))

    gateways = [srv.workers("gateway")[0]["pid"]]
    r = srv.cli("upgrade", timeout=120)
    assert r.returncode == 0 and "handed over 1 connections" in r.stdout, r.stdout + r.stderr
    wait_until(linked, what="the new gateway linked")
    gateways.append(srv.workers("gateway")[0]["pid"])
    say(browser, "after the upgrade")
    wait.until(lambda d: any("ann: after the upgrade" in l for l in lines(d)))

    r = srv.reload()
    assert r.returncode == 0 and "handed over 1 connections" in r.stdout, r.stdout + r.stderr
    wait_until(linked, what="the gateway linked")
    gateways.append(srv.workers("gateway")[0]["pid"])
    say(browser, "after the gateway's reload")
    wait.until(lambda d: any("ann: after the gateway's reload" in l for l in lines(d)))

    assert len(set(gateways)) == 3, f"gateway pids {gateways}: replaced each time"
    assert browser.find_element(By.ID, "opens").text == "1", "the page opened another WebSocket"
    assert browser.find_element(By.ID, "status").text == "connected"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "chat-handover.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000
