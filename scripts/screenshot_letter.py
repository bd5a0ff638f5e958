"""Screenshot the demo letter in headless Chromium: ``python scripts/screenshot_letter.py OUT.png [LETTER.html]``.

Without LETTER.html it runs ``cds demo`` (a short night) into a temporary folder first. Needs Debian's
``chromium`` (``apt-get install -y chromium``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("screenshot_letter: chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory(prefix="cds-shot-") as tmp:
        if len(argv) == 2:
            letter = Path(argv[1]).resolve()
        else:
            from cds.cli import run

            code = run(["demo", "--out", str(Path(tmp) / "demo"), "--hours", "0.5"])
            if code != 0:
                return code
            letter = Path(tmp) / "demo" / "letter.html"
        command = [
            browser,
            *FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--screenshot={out}",
            "--window-size=1000,4400",
            letter.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0 or not out.is_file():
            print(f"screenshot_letter: chromium failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
            return 4
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
