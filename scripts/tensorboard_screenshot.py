"""A PNG of TensorBoard's Time Series view over a folder of runs, taken by headless Chromium.

    python scripts/tensorboard_screenshot.py outputs docs/images/tensorboard_time_series.png

Starts ``tensorboard --logdir DIR`` on a free local port, waits until it lists the runs, lets
Chromium (Debian's ``chromium`` package: ``apt-get install -y chromium``) render the page for a
few seconds of virtual time, saves the screenshot and stops TensorBoard. Exit 2 with one line when
Chromium or TensorBoard is missing or TensorBoard finds no run.
"""

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_runs(url: str, seconds: float = 60) -> list[str]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            runs = json.loads(urllib.request.urlopen(f"{url}/data/runs", timeout=2).read())
            if runs:
                return runs
        except OSError:
            pass
        time.sleep(0.5)
    return []


def screenshot(logdir: Path, out: Path, width: int = 1600, height: int = 2100, wait: float = 60) -> list[str]:
    """Save the Time Series view of the runs under ``logdir`` to ``out``; returns the run names."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    tensorboard = Path(sys.executable).with_name("tensorboard")
    if chromium is None:
        raise FileNotFoundError("chromium is not installed: apt-get install -y chromium")
    if not tensorboard.is_file():
        raise FileNotFoundError(f"{tensorboard} is missing: install the project (make install)")
    port = free_port()
    server = subprocess.Popen([str(tensorboard), "--logdir", str(logdir), "--port", str(port), "--host", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        runs = wait_for_runs(f"http://127.0.0.1:{port}", wait)
        if not runs:
            raise FileNotFoundError(f"TensorBoard found no run under {logdir}")
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [chromium, "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                   "--hide-scrollbars", f"--window-size={width},{height}", "--virtual-time-budget=40000",
                   "--run-all-compositor-stages-before-draw", f"--screenshot={out}",
                   f"http://127.0.0.1:{port}/?forceSVG=true#timeseries"]
        for attempt in range(2):  # headless chromium now and then hangs on a busy machine: one fresh try more
            try:
                subprocess.run(command, check=True, capture_output=True, timeout=150)
                break
            except subprocess.TimeoutExpired:
                if attempt == 1:
                    raise
        return runs
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("logdir", type=Path, help="a folder of runs, e.g. outputs or a multirun sweep")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for TensorBoard to list the runs")
    args = parser.parse_args(argv)
    try:
        runs = screenshot(args.logdir, args.out, wait=args.wait)
    except (FileNotFoundError, subprocess.SubprocessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (runs: {', '.join(runs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
