"""The demo client (web/) in a real browser: Debian's chromium driven by
chromium-driver through python3-selenium (scripts/deps installs all three;
nothing is downloaded). Two browser sessions sign in as alice and bob; a
room shows live presence and publications; a direct message goes from
pending to read as bob opens it; a message sent while bob is away reaches
him at his next sign-in; a broadcast reaches him; and after the server
restarts both reconnect on their own and messages flow again. The test
ends with a screenshot of alice's window in the build directory
(demo.png; docs/img/demo.png is one of these)."""
import os
import shutil

import pytest

from conftest import BUILD_DIR, SOURCE_DIR, default_sections

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)

pytestmark = pytest.mark.skipif(
    not CHROMIUM or not CHROMEDRIVER,
    reason="chromium or chromedriver is not installed (scripts/deps installs chromium and "
           "chromium-driver)")

WAIT = 40  # seconds: generous, the machine is shared


@pytest.fixture
def browsers(tmp_path):
    """Factory: browsers(name, extra_args=()) -> a headless Chromium with its
    own profile (test_tls_clients.py imports it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made = []

    def make(name, extra_args=()):
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--force-device-scale-factor=1",
                    "--no-first-run", "--disable-extensions", "--lang=en-US",
                    f"--user-data-dir={tmp_path / ('profile-' + name)}", *extra_args):
            opts.add_argument(arg)
        d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        d.set_page_load_timeout(WAIT)
        made.append(d)
        return d

    yield make
    for d in made:
        try:
            d.quit()
        except Exception:  # a browser that already died: nothing to close
            pass


def wait_for(d, cond, what, timeout=WAIT):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        # The lists re-render as events come: an element read may go stale.
        return WebDriverWait(d, timeout, poll_frequency=0.1,
                             ignored_exceptions=[StaleElementReferenceException]).until(
                                 lambda drv: cond(drv))
    except Exception as e:
        logs = ""
        try:
            logs = "\n".join(str(x) for x in d.get_log("browser"))
        except Exception:
            pass
        raise AssertionError(f"timed out waiting for {what}\nbrowser log:\n{logs}") from e


def css(d, sel):
    from selenium.webdriver.common.by import By
    return d.find_elements(By.CSS_SELECTOR, sel)


def text_of(d, sel):
    els = css(d, sel)
    return els[0].text if els else None


def conn_state(d):
    els = css(d, "#conn-status")
    return els[0].get_attribute("data-state") if els else None


def sign_in(d, url, name):
    d.get(url)
    wait_for(d, lambda x: css(x, "#name") and css(x, "#name")[0].is_displayed(), "the sign-in form")
    css(d, "#name")[0].send_keys(name)
    click(d, "#signin-btn")
    wait_for(d, lambda x: conn_state(x) == "online" and text_of(x, "#me-name") == name,
             f"{name} signed in and connected")


def click(d, sel):
    """Click the element sel names now (lists re-render: no element is kept)."""
    assert d.execute_script(
        "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;", sel), sel


def type_into(d, sel, text):
    from selenium.webdriver.common.keys import Keys
    el = css(d, sel)[0]
    el.clear()
    el.send_keys(text + Keys.ENTER)


def message_texts(d):
    return [e.text for e in css(d, "#messages .msg .text")]


def my_status(d, text):
    """data-status of my message whose text is `text`."""
    for row in css(d, "#messages .msg.mine"):
        if row.find_elements("css selector", ".text")[0].text == text:
            return row.get_attribute("data-status")
    return None


def badge(d, sel):
    els = css(d, sel + " .badge")
    return els[0].text if els and els[0].is_displayed() else ""


def test_demo_in_two_browsers(server, browsers, tmp_path):
    sections = default_sections(store="store_lmdb")
    sections["store_lmdb"] = {"path": str(tmp_path / "data")}
    sections["web"] = {"root": os.path.join(SOURCE_DIR, "web"), "prefix": "/"}
    srv = server(sections=sections)
    url = f"http://127.0.0.1:{srv.port}/"

    alice, bob = browsers("alice"), browsers("bob")
    sign_in(alice, url, "alice")
    sign_in(bob, url, "bob")

    # A room with live presence: bob's join shows in alice's member list.
    type_into(alice, "#join-room", "lobby")
    wait_for(alice, lambda d: css(d, '#members li[data-user="alice"]'), "alice in lobby")
    type_into(bob, "#join-room", "lobby")
    wait_for(alice, lambda d: css(d, '#members li[data-user="bob"]'), "bob's presence at alice")
    wait_for(bob, lambda d: css(d, '#members li[data-user="alice"]'), "alice in bob's list")
    assert text_of(alice, "#chat-title") == "# lobby"
    type_into(alice, "#composer", "hello room")
    wait_for(bob, lambda d: "hello room" in message_texts(d), "the publication at bob")
    type_into(bob, "#composer", "hi alice! the deploy is green")
    wait_for(alice, lambda d: "hi alice! the deploy is green" in message_texts(d),
             "bob's publication at alice")

    # A direct message: pending -> sent/delivered -> read when bob opens it.
    wait_for(alice, lambda d: css(d, '#online-list li[data-user="bob"]'), "bob online for alice")
    click(alice, '#online-list li[data-user="bob"]')
    wait_for(alice, lambda d: text_of(d, "#chat-title") == "bob", "the conversation with bob")
    type_into(alice, "#composer", "lunch at 12?")
    wait_for(alice, lambda d: my_status(d, "lunch at 12?") in ("sent", "delivered"), "the ack")
    wait_for(bob, lambda d: badge(d, '#dm-list li[data-peer="alice"]') == "1",
             "an unread count of 1 at bob")
    click(bob, '#dm-list li[data-peer="alice"]')
    wait_for(bob, lambda d: "lunch at 12?" in message_texts(d), "the message at bob")
    wait_for(alice, lambda d: my_status(d, "lunch at 12?") == "read", "the read receipt")
    assert badge(bob, '#dm-list li[data-peer="alice"]') == ""

    # Offline: bob signs out, alice writes, bob gets it at his next sign-in.
    click(bob, "#signout-btn")
    wait_for(bob, lambda d: css(d, "#signin-btn") and css(d, "#signin-btn")[0].is_displayed(),
             "bob signed out")
    type_into(alice, "#composer", "are you there?")
    wait_for(alice, lambda d: my_status(d, "are you there?") in ("sent", "delivered"), "stored")
    sign_in(bob, url, "bob")
    wait_for(bob, lambda d: badge(d, '#dm-list li[data-peer="alice"]') == "1",
             "the offline message counted unread at bob")
    click(bob, '#dm-list li[data-peer="alice"]')
    wait_for(bob, lambda d: "are you there?" in message_texts(d), "the offline message at bob")
    wait_for(alice, lambda d: my_status(d, "are you there?") == "read", "its read receipt")

    # A broadcast reaches bob's announcements.
    click(alice, '#announcements li[data-chan="broadcast"]')
    type_into(alice, "#composer", "maintenance at 22:00")
    wait_for(alice, lambda d: my_status(d, "maintenance at 22:00") == "sent", "the broadcast ack")
    wait_for(bob, lambda d: badge(d, '#announcements li[data-chan="broadcast"]') == "1",
             "the broadcast counted at bob")

    # The server restarts: both show it, reconnect with backoff, and talk again.
    assert srv.stop() == 0
    wait_for(alice, lambda d: conn_state(d) in ("offline", "connecting"), "alice sees the loss")
    srv.start()
    wait_for(alice, lambda d: conn_state(d) == "online", "alice reconnected", timeout=60)
    wait_for(bob, lambda d: conn_state(d) == "online", "bob reconnected", timeout=60)
    click(alice, '#dm-list li[data-peer="bob"]')
    type_into(alice, "#composer", "back after the restart")
    wait_for(bob, lambda d: badge(d, '#dm-list li[data-peer="alice"]') == "1"
             or "back after the restart" in message_texts(d), "the message after the restart")
    # Rooms are joined again on reconnect: presence and publications still flow.
    click(bob, '#rooms-list li[data-room="lobby"]')
    wait_for(bob, lambda d: css(d, '#members li[data-user="alice"]'), "lobby rejoined at bob")
    type_into(bob, "#composer", "we are back")
    click(alice, '#rooms-list li[data-room="lobby"]')
    wait_for(alice, lambda d: "we are back" in message_texts(d), "lobby after the restart")

    # The picture: alice in a room with a short conversation, bob's direct
    # message waiting in her list.
    type_into(alice, "#join-room", "launch")
    wait_for(alice, lambda d: text_of(d, "#chat-title") == "# launch", "alice in launch")
    type_into(bob, "#join-room", "launch")
    wait_for(alice, lambda d: css(d, '#members li[data-user="bob"]'), "bob in launch")
    for who, other, text in (
            (alice, bob, "Release 1.2 is tagged, the notes are in the wiki"),
            (bob, alice, "Nice! Smoke tests are green on staging"),
            (alice, bob, "Shipping to production at 17:00 then"),
            (bob, alice, "I'll keep an eye on the dashboards")):
        type_into(who, "#composer", text)
        wait_for(other, lambda d, t=text: t in message_texts(d), f"'{text}' delivered")
    click(bob, '#dm-list li[data-peer="alice"]')
    type_into(bob, "#composer", "see you at lunch?")
    wait_for(alice, lambda d: badge(d, '#dm-list li[data-peer="bob"]') == "1", "bob's DM badge")
    shot = os.path.join(BUILD_DIR, "demo.png")
    assert alice.save_screenshot(shot), shot
    assert os.path.getsize(shot) > 10000
    # And bob's side of the direct messages, with the ticks (for the docs).
    click(bob, '#dm-list li[data-peer="alice"]')
    assert bob.save_screenshot(os.path.join(BUILD_DIR, "demo-dm.png"))


def test_demo_recovers_missed_room_messages(server, browsers, tmp_path):
    """With room history on, the page rejoins its rooms with `since` after a
    drop: what was published while it was away shows once, in order, under
    a "recovered" note; a first join loads the room's history."""
    import json
    sections = default_sections(store="store_lmdb")
    sections["store_lmdb"] = {"path": str(tmp_path / "data")}
    sections["web"] = {"root": os.path.join(SOURCE_DIR, "web"), "prefix": "/"}
    sections["rooms"] = {"history_size": 100}
    sections["api"] = {"api_key": "k"}
    srv = server(sections=sections)
    url = f"http://127.0.0.1:{srv.port}/"

    def api(method, path, body=None):
        status, _, raw = srv.http(method, path, json.dumps(body) if body is not None else None,
                                  {"Authorization": "Bearer k",
                                   "Content-Type": "application/json"})
        return status, json.loads(raw)

    assert api("POST", "/api/rooms/lobby/publish", {"text": "said before bob came"})[0] == 202
    bob = browsers("bob")
    sign_in(bob, url, "bob")
    type_into(bob, "#join-room", "lobby")
    wait_for(bob, lambda d: "said before bob came" in message_texts(d), "the room's history")
    assert api("POST", "/api/rooms/lobby/publish", {"text": "live one"})[0] == 202
    wait_for(bob, lambda d: "live one" in message_texts(d), "a live publication")

    # The drop: the server closes bob's connection (1008: the page waits for
    # a click, so the publications below certainly happen while it is away).
    assert api("POST", "/api/users/bob/disconnect")[1] == {"closed": 1}
    wait_for(bob, lambda d: conn_state(d) == "offline", "bob sees the drop")
    missed = ["missed one", "missed two", "missed three"]
    for text in missed:
        assert api("POST", "/api/rooms/lobby/publish", {"text": text, "from": "ops"})[0] == 202
    click(bob, "#banner button")
    wait_for(bob, lambda d: conn_state(d) == "online", "bob reconnected")
    wait_for(bob, lambda d: all(t in message_texts(d) for t in missed), "the missed messages")
    texts = message_texts(bob)
    assert texts == ["said before bob came", "live one"] + missed, texts
    note = css(bob, '#messages .system[data-recovered="true"]')
    assert note and "recovered" in note[-1].text, [e.text for e in css(bob, "#messages .system")]
    # Live traffic flows again, once.
    assert api("POST", "/api/rooms/lobby/publish", {"text": "after"})[0] == 202
    wait_for(bob, lambda d: "after" in message_texts(d), "live after the recovery")
    assert message_texts(bob) == texts + ["after"]
