"""CDS Hooks response time: starts `cds serve --dev` on a free loopback port, warms it with one request, then times
whole HTTP requests (client to card) for patient-view and order-sign with a history-only FHIR bundle (a pregnant
woman with RLS and ferritin 30 ordering ropinirole; no recording). Prints best and median per hook.

    python benchmarks/bench_cds_hooks.py [--n 20]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fhir"))
from fhir_bundles import coded, condition, full_prefetch, hook_request, medication, patient, quantity


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    n = parser.parse_args().n
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = Path(tempfile.mkdtemp()) / "data"
    command = [
        sys.executable,
        "-c",
        "from cds.cli import main; main()",
        "serve",
        "--dev",
        "--port",
        str(port),
        "--data-dir",
        str(data),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(200):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            pid = "bench-1"
            prefetch = full_prefetch(
                patient(pid, "female", "1995-03-14"),
                conditions=[condition(pid, "32914008", "Restless legs syndrome")],
                observations=[coded(pid, "82810-3", "77386006"), quantity(pid, "2276-4", 30, "ng/mL")],
            )
            draft = medication(pid, "72302", "Ropinirole 0.25 MG Oral Tablet", status="draft", rid="d1")
            bodies = {
                "patient-view": ("cds-sleep-triage", hook_request("patient-view", pid, prefetch)),
                "order-sign": ("cds-drug-check-sign", hook_request("order-sign", pid, prefetch, draft)),
            }
            for service, body in bodies.values():  # warm: rule base compiled, code tables loaded
                client.post(f"/cds-services/{service}", json=body).raise_for_status()
            for hook, (service, body) in bodies.items():
                times = []
                for _ in range(n):
                    start = time.perf_counter()
                    response = client.post(f"/cds-services/{service}", json=body)
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200 and response.json()["cards"]
                best, median = min(times) * 1000, statistics.median(times) * 1000
                best, median = min(times) * 1000, statistics.median(times) * 1000
                print(
                    f"{hook}: whole request best {best:.0f} ms, median {median:.0f} ms over {n} requests "
                    "(warm server, history only)"
                )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
