"""`make bench`: run every benchmark and write bench/README.md.

Each `bench/bench_*.py` is a standalone script that prints a markdown section
(a heading and a table of median / p99 figures). This runner describes the machine,
runs them one after another (never in parallel: they would measure each other) and
collects their output. `--smoke` passes `--smoke` to each for a seconds-long variant.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){mem}, "
        f"Python {platform.python_version()}; speed check: {python_speed():.2f} s for 10M "
        "Python additions (compare runs by it: shared VMs vary up to 2×)"
    )


def python_speed() -> float:
    """A fixed CPU-bound loop, so two runs' absolute figures can be put side by side."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def run_one(script: Path, smoke: bool) -> tuple[str, float, int]:
    started = time.perf_counter()
    args = [sys.executable, "-m", f"bench.{script.stem}"] + (["--smoke"] if smoke else [])
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    body = done.stdout.strip()
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        body += f"\n\n**FAILED (exit {done.returncode})**\n\n```\n{tail}\n```"
    return body, took, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="small, fast variant")
    parser.add_argument("--only", action="append", help="run only these bench_* names")
    parser.add_argument("--output", type=Path, default=HERE / "README.md")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only or s.stem[6:] in args.only]
    sections, failures = [], 0
    for index, script in enumerate(scripts, 1):
        print(f"[{index}/{len(scripts)}] {script.stem} …", file=sys.stderr, flush=True)
        body, took, code = run_one(script, args.smoke)
        failures += code != 0
        sections.append(f"{body}\n\n_{script.name}: {took:.1f} s wall time_")
    header = HERE / "HEADER.md"
    text = header.read_text() if header.exists() else "# Benchmarks\n"
    text += f"\nMachine: {machine()}. Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    text += " (smoke variant)" if args.smoke else ""
    text += ".\n\n" + "\n\n".join(sections) + "\n"
    if not args.smoke:
        args.output.write_text(text)
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
