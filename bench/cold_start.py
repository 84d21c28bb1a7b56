"""A cold start as the first visitors of a freshly started Space meet it: ``python app.py`` with an empty Inductor
cache (so the Fast styles warm-up compiles everything, minutes on two cores), and requests sent meanwhile.

Through gradio_client, to 127.0.0.1 only, once calibration has ended and the warm-up has begun, in each phase of
the warm-up (a child interpreter compiles and fills the cache; the server then loads the graphs from it) and
after it (the seconds of each phase from the app's log):

* a 256 px Image request (every other setting at its default), ``--repeats`` times (once while loading);
* an "Any picture" Fast request, as often, with the status it shows.

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
from bench.serve import IMAGES, WARMED, image_values, start_app, wait_for  # noqa: E402

FILLED = re.compile(r"compile cache: (?:filled by a child|the child (?:failed|was stopped|was ended))[^\n]*")


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
    text = log.read_text()
    print(f"| {phase} | (then: the child had {'ended' if FILLED.search(text) else 'not ended'}, the warm-up "
          f"{'too' if WARMED.search(text) else 'had not'}) | | |")


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
        requests(client, args.repeats, "while a child compiles", log)
        print(f"| | {wait_for(FILLED, log).group(0)} | | |")
        requests(client, 1, "while the server loads the graphs", log)
        warmed = wait_for(WARMED, log)
        print(f"| | warm-up: {warmed.group(1)} in {warmed.group(2)} s (the loading, after the child) | | |")
        requests(client, args.repeats, "after it", log)
    finally:
        app.terminate()
        app.wait(60)


if __name__ == "__main__":
    main()
