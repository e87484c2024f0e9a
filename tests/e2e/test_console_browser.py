"""The web console in a real headless Chromium against a real ``cadenza serve``.

A person signs in with a key, creates a song from lyrics, watches its progress move, plays
it and sees the word highlight advance, mutes a stem, downloads the MP3 and the MIDI; an
admin creates a key and grants it credits. Every page is screenshotted into
``build/screenshots/console/`` (``CADENZA_SCREENSHOTS`` moves it).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mido
import pytest
from e2e_serving import Server, launch, new_key, stop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="Playwright's Python package is not installed (scripts/setup.sh dev installs it)",
    ),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (scripts/setup.sh dev installs it)",
    ),
]

SHOTS = Path(
    os.environ.get(
        "CADENZA_SCREENSHOTS",
        Path(__file__).resolve().parents[2] / "build" / "screenshots" / "console",
    )
)
LYRICS = "[Verse]\nMorning light on the water\nSinging softly to the shore"
TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A channel secret: the admin page can add upstream channels.
    server = launch(
        tmp_path_factory.mktemp("console"),
        env_extra={"CADENZA_CHANNEL_SECRET": "console-channel-secret"},
    )
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Page:
    """One tab, collecting the page's own errors so a test fails on a broken script."""

    def __init__(self, browser: Any, server: Server, width: int = 1280) -> None:
        self.context = browser.new_context(
            viewport={"width": width, "height": 900}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.server = server

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def sign_in(self, key: str) -> None:
        self.page.goto(self.server.base + "/")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_selector("#view-create:not([hidden])")

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


def test_a_person_makes_hears_and_downloads_a_song(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    key = new_key(server, "100")
    tab = Page(browser, server)
    page = tab.page
    page.goto(server.base + "/")
    tab.shot("01-sign-in")

    # A wrong key is the API's own message, not a blank page.
    page.get_by_label("API key").fill("sk_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "key" in alert.inner_text().lower()

    tab.sign_in(key)
    assert "100" in page.locator("#who-credits").inner_text()
    page.get_by_label("My own lyrics").check()
    page.get_by_label("Title", exact=True).fill("Shore Song")
    page.get_by_label("Lyrics", exact=True).fill(LYRICS)
    page.get_by_label("Style tags").fill("folk, acoustic guitar")
    page.get_by_label("Seed").fill("7")
    tab.shot("02-create")
    page.get_by_role("button", name="Create song").click()

    # The library shows the task and its progress moving until it is done.
    page.wait_for_selector("#view-library:not([hidden])")
    task = page.locator("#task-list .task").first
    seen: set[str] = set()
    shot_running = False
    # One read of the live DOM per tick: the list re-renders as the task moves, so a
    # bar counted a moment ago may be gone by the time a second locator call asks for it.
    read = """() => {
        const t = document.querySelector('#task-list .task');
        const bar = t && t.querySelector('progress');
        return [t ? t.dataset.status || '' : '', bar ? String(bar.value) : null];
    }"""
    for _ in range(int(TIMEOUT_MS / 250)):
        status, value = page.evaluate(read)
        if value is not None:
            seen.add(value)
            if not shot_running and status == "IN_PROGRESS":
                tab.shot("03-library-progress")
                shot_running = True
        if status in ("SUCCESS", "FAILURE"):
            break
        page.wait_for_timeout(250)
    assert task.get_attribute("data-status") == "SUCCESS", task.inner_text()
    moving = {int(v) for v in seen if v.isdigit()}
    assert len(moving) >= 2 and max(moving) > min(moving), f"progress never moved: {seen}"
    assert "90" in page.locator("#who-credits").inner_text()  # a song costs 10

    # Open the first clip: player, waveform, lyrics highlighted word by word.
    task.locator(".clip-button").first.click()
    page.wait_for_selector("#clip[data-complete]")
    page.wait_for_selector("#karaoke .w")
    page.evaluate("document.querySelector('#clip audio').play()")
    page.wait_for_function(
        "document.querySelector('#karaoke').dataset.word !== undefined", timeout=60_000
    )
    first = int(page.locator("#karaoke").get_attribute("data-word") or "-1")
    page.wait_for_function(
        f"Number(document.querySelector('#karaoke').dataset.word) > {first}", timeout=30_000
    )
    assert page.locator("#karaoke .w.sung").count() >= 2
    tab.shot("04-clip-playing")
    page.evaluate("document.querySelector('#clip audio').pause()")

    # Stems: mute the vocals; the mixer sets its gain to 0 and the others stay at 1.
    page.locator("#stems summary").click()
    page.get_by_label("Mute Vocals").check()
    gains = page.eval_on_selector_all(
        "#stems [data-stem]", "els => els.map(e => [e.dataset.stem, e.dataset.gain])"
    )
    assert dict(gains)["Vocals"] == "0"
    assert all(g == "1" for name, g in gains if name != "Vocals"), gains
    page.get_by_role("button", name="Play stems").click()
    page.get_by_role("button", name="Pause stems").wait_for()
    tab.shot("05-stems")
    page.get_by_role("button", name="Pause stems").click()

    # Downloads: the MP3 and the MIDI are the clip's own files.
    with page.expect_download() as mp3_download:
        page.get_by_role("link", name="MP3").click()
    mp3 = tmp_path / "song.mp3"
    mp3_download.value.save_as(mp3)
    assert mp3.stat().st_size > 10_000 and mp3.read_bytes()[:2] in (b"ID", b"\xff\xfb")
    with page.expect_download() as midi_download:
        page.get_by_role("link", name="MIDI").click()
    midi = tmp_path / "song.mid"
    midi_download.value.save_as(midi)
    assert len(mido.MidiFile(str(midi)).tracks) >= 2

    # On a phone-width screen the same page still works.
    phone = Page(browser, server, width=390)
    phone.sign_in(key)
    phone.page.get_by_role("button", name="Library").click()
    phone.page.wait_for_selector("#task-list .task")
    phone.shot("06-library-phone")
    phone.close()
    tab.close()


def test_an_admin_creates_a_key_and_grants_credits(server: Server, browser: Any) -> None:
    admin = new_key(server, "0", "--admin")
    tab = Page(browser, server)
    page = tab.page
    tab.sign_in(admin)
    nav_admin = page.get_by_role("button", name="Admin")
    assert nav_admin.is_visible()
    nav_admin.click()
    page.wait_for_selector("#keys-table tbody tr")
    page.get_by_label("Name", exact=True).fill("band-key")
    page.get_by_label("Credits", exact=True).fill("5")
    page.get_by_role("button", name="Create key").click()
    secret_box = page.locator("#key-secret")
    secret_box.wait_for()
    secret = next(w for w in secret_box.inner_text().split() if w.startswith("sk_"))

    row = page.locator("#keys-table tr", has_text="band-key")
    row.get_by_role("spinbutton").fill("20")
    row.get_by_role("button", name="Add").click()
    page.wait_for_selector("#alert.ok")
    page.wait_for_function(
        "[...document.querySelectorAll('#keys-table tr')].some("
        "r => r.textContent.includes('band-key') && r.textContent.includes('25'))"
    )

    # A price saves as it changes.
    price = page.get_by_label("Price of CROP")
    price.fill("3")
    price.press("Tab")
    page.wait_for_function(
        "document.querySelector('#alert.ok') && "
        "document.querySelector('#alert').textContent.includes('3 credits')"
    )
    listed = httpx.get(server.base + "/suno/billing/pricing", headers={"X-API-Key": admin}).json()
    [crop] = [p for p in listed["data"] if p["action"] == "CROP"]
    assert float(crop["price"]) == 3
    tab.shot("07-admin")

    # The new key works, with the credits granted.
    me = httpx.get(server.base + "/suno/billing/me", headers={"X-API-Key": secret}).json()
    assert float(me["data"]["api_key"]["credits_balance"]) == 25

    # A normal key never sees the admin page.
    user = Page(browser, server)
    user.sign_in(new_key(server, "1"))
    assert not user.page.get_by_role("button", name="Admin").is_visible()
    user.close()
    tab.close()


def test_an_admin_adds_disables_and_removes_an_upstream_channel(
    server: Server, browser: Any
) -> None:
    admin = new_key(server, "0", "--admin")
    headers = {"X-API-Key": admin}
    tab = Page(browser, server)
    page = tab.page
    tab.sign_in(admin)
    page.get_by_role("button", name="Admin").click()
    page.wait_for_selector("#channels-table tbody tr")
    assert "No channel" in page.locator("#channels-table").inner_text()

    page.get_by_label("Channel name").fill("gpu-1")
    page.get_by_label("Dialect").select_option("acedata")
    page.get_by_label("Base URL").fill("http://10.0.0.5:8000")
    page.get_by_label("Upstream key").fill("sk_upstream_secret")
    page.get_by_label("Models").fill("chirp-v4=chirp-v3-5, chirp-v5")
    page.get_by_label("Actions").fill("music, lyrics")
    page.get_by_role("button", name="Add channel").click()
    row = page.locator("#channels-table tr", has_text="gpu-1")
    row.wait_for()
    text = row.inner_text()
    assert "acedata" in text and "chirp-v4=chirp-v3-5" in text and "LYRICS" in text
    assert "closed" in text  # its circuit, as this process sees it
    [listed] = httpx.get(server.base + "/api/v1/admin/channels", headers=headers).json()["items"]
    assert listed["name"] == "gpu-1" and listed["actions"] == ["LYRICS", "MUSIC"]
    assert "sk_upstream_secret" not in page.content()  # the key is never shown
    tab.shot("08-channels")

    row.get_by_label("gpu-1 enabled").uncheck()
    page.wait_for_function(
        "document.querySelector('#alert.ok') && "
        "document.querySelector('#alert').textContent.includes('takes no new tasks')"
    )
    [listed] = httpx.get(server.base + "/api/v1/admin/channels", headers=headers).json()["items"]
    assert listed["enabled"] is False
    assert "disabled" in page.locator("#channels-table tr", has_text="gpu-1").inner_text()

    page.once("dialog", lambda dialog: dialog.accept())
    row = page.locator("#channels-table tr", has_text="gpu-1")
    row.get_by_role("button", name="Remove").click()
    page.wait_for_function(
        "document.querySelector('#channels-table').textContent.includes('No channel')"
    )
    assert httpx.get(server.base + "/api/v1/admin/channels", headers=headers).json()["items"] == []
    tab.close()
