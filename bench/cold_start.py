"""A cold start as the first visitors of a freshly started Space meet it: ``python app.py`` with an empty Inductor
cache (so the Fast styles warm-up compiles everything, minutes on two cores), and requests sent meanwhile.

Through gradio_client, to 127.0.0.1 only, once calibration has ended and the warm-up has begun:

* a 256 px Image request (every other setting at its default), ``--repeats`` times, during the warm-up;
* an "Any picture" Fast request, ``--repeats`` times, during the warm-up, with the status it shows;
* when the warm-up has ended (its seconds from the app's log), the same requests again.

    python bench/cold_start.py              # about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradio_client import Client, handle_file  # noqa: E402

from bench.common import machine  # noqa: E402
from bench.serve import IMAGES, image_values, start_app  # noqa: E402

WARMED = re.compile(r"fast styles: (compiled|stopped) in (\d+) s")


def fast_values() -> dict:
    return dict(content=handle_file(IMAGES / "coffee.jpg"), style="Any picture",
                style_images=[handle_file(IMAGES / "style_waves.jpg")])


def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def requests(client: Client, repeats: int, phase: str, log: Path) -> None:
    for index in range(repeats):
        seconds, _ = timed(lambda: client.predict(**image_values(256, 40), api_name="/image"))
        print(f"| {phase} | Image 256 px #{index + 1} | {seconds:.1f} | |", flush=True)
    for index in range(repeats):
        seconds, (_, status) = timed(lambda: client.predict(**fast_values(), api_name="/fast"))
        print(f"| {phase} | Fast, any picture #{index + 1} | {seconds:.1f} | {status.split(': ', 1)[-1]} |",
              flush=True)
    print(f"| {phase} | (the warm-up had {'ended' if WARMED.search(log.read_text()) else 'not ended'}) | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="nst-cold-start-"))
    print(f"# {machine()}")
    app, url = start_app(folder, {"TORCHINDUCTOR_CACHE_DIR": str(folder / "inductor")})
    log = folder / "app.log"
    try:
        while "calibrated" not in log.read_text():  # the warm-up starts right after the calibration
            time.sleep(0.5)
        client = Client(url, verbose=False)
        print("\n| phase | request | seconds | how the pass ran |\n|---|---|---|---|")
        requests(client, args.repeats, "during the warm-up", log)
        while not (warmed := WARMED.search(log.read_text())):
            time.sleep(1.0)
        print(f"| | warm-up: {warmed.group(1)} in {warmed.group(2)} s | | |")
        requests(client, args.repeats, "after it", log)
    finally:
        app.terminate()
        app.wait(60)


if __name__ == "__main__":
    main()
