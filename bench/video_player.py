"""The video player's time to first frame and kernel memory, in JupyterLab, same run.

A ~68 MB H.264 video (noise at a tiny quantiser, as tests/test_video_player_browser.py
makes it) is served by a LocalServer and displayed as a ref in JupyterLab (headless
Chromium, a real kernel). Each of the player's rounds re-runs the display cell: a new
player view asks the kernel for the video and plays it either from the Jupyter server's
extension (`serverext.py`, HTTP Range requests; the server looks at the kernel's cache
directory) or, with that URL blocked in the page (as without the extension), streams it
over the widget's comm in chunks; the page's
numbers are read from the player (`data-poster-ms`: the first frame shown as a poster,
`data-open-ms`: the kernel's "ready", `data-loaded-ms`: the last chunk,
`data-first-frame-ms`: the first playable frame). The peer is the least
work that gets the same bytes into the same page: the browser fetches the same file
from the Jupyter server's own `/files/` HTTP handler into a Blob and plays it. Sides
alternate each round. The kernel's RSS is sampled every 50 ms while it streams.

    PYTHONPATH=. python bench/video_player.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from _timing import alternate, machine, ratio, summary  # noqa: E402
from peak_rss import status  # noqa: E402

SETUP = """\
import os
open({pid!r}, "w").write(str(os.getpid()))
from vlmrun_jupyter import Client, VideoRef
client = Client(api_key={key!r}, base_url={base!r}, cache_dir={cache!r})
big = VideoRef(id={oid!r}).bind(session_id={sid!r}, client=client)
big.fetch(); None
"""

PEER = """async (url) => {
    const t0 = performance.now();
    const blob = await (await fetch(url)).blob();
    const loaded = performance.now() - t0;
    const v = document.createElement('video');
    v.muted = true; v.preload = 'auto';
    const ready = new Promise(r => v.addEventListener('loadeddata', r, {once: true}));
    v.src = URL.createObjectURL(blob);
    document.body.appendChild(v);
    await ready;
    const first = performance.now() - t0;
    v.remove(); URL.revokeObjectURL(v.src);
    return {loaded, first, size: blob.size};
}"""


def _rss_mib(pid: int) -> int:
    return status("VmRSS", pid) // 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from browser import chromium
    from test_notebooks_lab_browser import JupyterServer, Page, open_notebook, write_notebook
    from test_video_player import write_video

    from vlmrun_jupyter import LocalServer

    tmp = Path(tempfile.mkdtemp(prefix="vlmrun-bench-video-"))
    try:
        root = tmp / "root"
        root.mkdir()
        video = write_video(root / "big.mp4", seconds=21, fps=24, qp=1)
        size = video.stat().st_size
        with LocalServer() as srv:
            sid, oid = srv.add_artifact("vid", video)
            pid_file = tmp / "kernel.pid"
            setup = SETUP.format(
                pid=str(pid_file),
                key=srv.api_key,
                base=srv.base_url,
                cache=str(tmp / "cache"),
                oid=oid,
                sid=sid,
            )
            write_notebook(root / "bench.ipynb", [setup, "big"])
            os.environ["VLMRUN_CACHE_DIR"] = str(tmp / "cache")  # the extension's cache
            server = JupyterServer("lab", root, tmp / "jupyter.log")
            try:
                with chromium() as browser:
                    page = Page(browser, server.origin).page
                    open_notebook(page, server.url("bench.ipynb"))
                    page.evaluate(
                        "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
                    )
                    while not pid_file.exists():
                        time.sleep(0.1)
                    kernel = int(pid_file.read_text())
                    page.wait_for_selector(".vlmrun-video", timeout=120_000)
                    page.wait_for_function(
                        "() => document.querySelector('.vlmrun-video').dataset.state === 'ready'",
                        timeout=120_000,
                    )  # the first display also fetched and drew the contact sheet: not timed
                    stream: dict[str, list[float]] = {
                        "poster shown": [],
                        "kernel 'ready'": [],
                        "all chunks": [],
                    }
                    growth: list[int] = []

                    def rerun() -> None:
                        """Re-run the display cell (the active one): a new view, a new stream."""
                        page.evaluate(
                            "() => window.jupyterapp.commands.execute('notebook:run-cell')"
                        )

                    def played(via: str) -> dict[str, str]:
                        """The new view's numbers once it plays (marked: the next rerun's view
                        is told apart from it)."""
                        page.wait_for_function(
                            "() => { const v = document.querySelectorAll('.vlmrun-video');"
                            " return v.length === 1 && v[0].dataset.state === 'ready'"
                            " && !v[0].dataset.bench; }",
                            timeout=120_000,
                        )
                        d = page.evaluate(
                            "() => { const r = document.querySelector('.vlmrun-video');"
                            " r.dataset.bench = '1'; return {...r.dataset}; }"
                        )
                        assert d.get("via") == via, d
                        return d

                    def extension() -> float:
                        rerun()
                        return float(played("http")["firstFrameMs"]) / 1000

                    blocked = "**/vlmrun/cache/**"

                    def player() -> float:
                        page.route(blocked, lambda route: route.abort())  # no extension
                        try:
                            return comm()
                        finally:
                            page.unroute(blocked)

                    def comm() -> float:
                        rerun()
                        base, peak, done = _rss_mib(kernel), [0], threading.Event()

                        def sample() -> None:
                            while not done.is_set():
                                peak[0] = max(peak[0], _rss_mib(kernel))
                                time.sleep(0.05)

                        sampler = threading.Thread(target=sample)
                        sampler.start()
                        try:
                            d = played("comm")
                        finally:
                            done.set()
                            sampler.join()
                        growth.append(peak[0] - base)
                        stream["poster shown"].append(float(d.get("posterMs", "nan")) / 1000)
                        stream["kernel 'ready'"].append(float(d["openMs"]) / 1000)
                        stream["all chunks"].append(float(d["loadedMs"]) / 1000)
                        return float(d["firstFrameMs"]) / 1000

                    def http() -> float:
                        url = f"{server.origin}/files/big.mp4?token={server.token}"
                        got = page.evaluate(PEER, url)
                        assert got["size"] == size
                        return got["first"] / 1000

                    times = alternate(
                        {
                            "player (comm chunks)": player,
                            "player (extension, HTTP Range)": extension,
                            "peer (HTTP /files/ blob)": http,
                        },
                        args.rounds,
                    )
            finally:
                server.stop()
        print(machine())
        print(f"a {size / 1e6:.1f} MB H.264 video, JupyterLab, loopback, {args.rounds} rounds")
        print("time to first frame:")
        print(summary(times))
        r = ratio(times, "player (comm chunks)", "peer (HTTP /files/ blob)")
        print(f"player / peer: {r:.2f}x")
        r = ratio(times, "player (extension, HTTP Range)", "peer (HTTP /files/ blob)")
        print(f"player via the extension / peer: {r:.2f}x")
        r = ratio(times, "player (comm chunks)", "player (extension, HTTP Range)")
        print(f"player via the comm / via the extension: {r:.2f}x")
        print("the player over the comm, from its first request:")
        print(summary(stream))
        print(
            f"all chunks: {size / 1e6 / statistics.median(stream['all chunks']):.0f} MB/s (median)"
        )
        print(f"kernel RSS growth while streaming: {min(growth)}-{max(growth)} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
