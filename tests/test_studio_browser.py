"""The studio end to end in headless Chromium (Debian's ``chromium``, driven by Playwright): sign in,
upload the bundled example, follow the job, read overlays and thumbnails, download the SRT and the ZIP, ask
the archive bot two chained questions, try the headline lab, correct the overlay text, analyse again with a
new headline, and delete the video. Screenshots go to ``test-artifacts/studio/``."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.studio_server import TOKEN, StudioServer

ARTIFACTS = ROOT / "test-artifacts" / "studio"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "headless browser tests need Debian's chromium (setup.sh installs it)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def test_upload_follow_read_download_and_ask(tmp_path: Path, demo_video: Path, browser_page) -> None:
    from playwright.sync_api import expect

    page = browser_page
    words = tmp_path / "channel-words.txt"
    words.write_text("caterpillar\nbore\n")  # the team's word list: the analysis reads it in its worker
    server = StudioServer(tmp_path / "studio", workers=1, words=words).start()
    try:
        page.goto(server.url + "/")
        expect(page).to_have_url(f"{server.url}/login?next=/")
        page.fill("#token", "not the token")
        page.click("#sign-in")
        expect(page.locator("#login-error")).to_be_visible()
        page.fill("#token", TOKEN)
        page.click("#sign-in")
        expect(page.locator("h1")).to_have_text("Analyse a video")

        page.set_input_files("#video-file", str(demo_video))
        page.fill("#headline", "what they want to do")
        page.click("#upload-button")
        page.wait_for_url(f"{server.url}/videos/*")
        video_url = page.url
        expect(page.locator("#job-progress")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "1_job_progress.png"))

        expect(page.locator("#overlays")).to_be_visible(timeout=240_000)  # the page reloads when the job is done
        lines = [field.input_value() for field in page.locator(".overlay-text").all()]
        assert "smoking caterpillar" in lines, lines
        thumbnails = page.locator(".thumbnail img")
        assert thumbnails.count() >= 3
        thumbnails.last.scroll_into_view_if_needed()  # they load lazily, when scrolled to
        page.wait_for_function("() => [...document.querySelectorAll('.thumbnail img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(ARTIFACTS / "2_results.png"), full_page=True)

        with page.expect_download() as download:
            page.click("#download-srt")
        assert download.value.suggested_filename == "demo.srt"
        srt = Path(download.value.path()).read_text()
        assert "-->" in srt and "smoking caterpillar" in srt
        with page.expect_download() as download:
            page.click("#download-all")
        assert download.value.suggested_filename == "demo-reelkit.zip"
        with zipfile.ZipFile(download.value.path()) as bundle:
            names = set(bundle.namelist())
        assert {"report.html", "report.json"} <= names and any(name.endswith(".srt") for name in names)

        page.click("text=Videos")  # the list shows each analysed video's best thumbnail
        page.wait_for_function("() => { const i = document.querySelector('.list-thumbnail');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        page.screenshot(path=str(ARTIFACTS / "3_video_list.png"), full_page=True)

        page.click("text=Archive bot")
        page.fill("#question", "which video shows a smoking caterpillar?")
        page.click("#ask")
        first = page.locator(".message.bot").nth(0)
        expect(first.locator(".citation").first).to_contain_text("demo.mp4", timeout=90_000)  # models may still be loading
        page.fill("#question", "what text appears in it?")
        page.click("#ask")
        second = page.locator(".message.bot").nth(1)
        expect(second.locator(".answer")).to_contain_text("smoking caterpillar")
        page.screenshot(path=str(ARTIFACTS / "4_archive_bot.png"), full_page=True)

        page.click("text=Headline lab")
        page.fill("#lab-headline", "i tried viral hacks")
        page.click("#lab-improve")
        expect(page.locator(".variant").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "5_headline_lab.png"), full_page=True)

        page.goto(video_url)  # correct one line and remove the last; the downloads follow
        fields = page.locator(".overlay-text")
        fields.nth(lines.index("smoking caterpillar")).fill("a smoking caterpillar")
        page.click("#save-overlays")
        expect(page.locator("#overlays-saved")).to_have_text("Saved (1 line changed).")
        fields.nth(len(lines) - 1).fill("")
        page.click("#save-overlays")
        expect(page.locator(".overlay-text")).to_have_count(len(lines) - 1)  # reloaded without it
        expect(page.locator(".edited")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "6_corrected_overlays.png"), full_page=True)
        with page.expect_download() as download:
            page.click("#download-srt")
        srt = Path(download.value.path()).read_text()
        assert "a smoking caterpillar" in srt and lines[-1] not in srt, srt

        page.fill("#reanalyse-headline", "what they want to do, part 2")
        page.click("#reanalyse")
        expect(page.locator("#job-progress")).to_be_visible()
        expect(page.locator("#headline-ideas")).to_contain_text("Yours: “what they want to do, part 2”",
                                                                timeout=240_000)
        page.once("dialog", lambda dialog: dialog.accept())  # "Delete demo.mp4 and all its results?"
        page.click("#delete-video")
        page.wait_for_url(f"{server.url}/")
        expect(page.locator("#videos")).not_to_contain_text("demo.mp4")
        page.goto(video_url)  # an old link to the deleted video
        expect(page.locator("#error-title")).to_have_text("Not found")
        page.click("text=Archive bot")
        page.click("#new-conversation")
        page.fill("#question", "which video shows a smoking caterpillar?")
        page.click("#ask")
        expect(page.locator("#ask-error")).to_contain_text("no videos yet")  # its archive entry went with it
        page.screenshot(path=str(ARTIFACTS / "7_after_delete.png"), full_page=True)
    finally:
        server.stop()
