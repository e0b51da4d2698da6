"""The README's tour, run as written on FSDD, step by step, with the wall time of each step.

    .venv/bin/python bench/bench_tour.py [--fsdd ../shared/data/fsdd] [--epochs 3] [--work DIR] [--json OUT]

The commands are read from README.md, between `<!-- tour:begin -->` and `<!-- tour:end -->`, so the tour that is
timed is the tour users read. In each command `FSDD` becomes --fsdd, `runs/` lives in --work (a fresh temporary
folder by default), and `--epochs N` becomes `--epochs E` when --epochs is given (the README states full-length
runs; a quick check runs them short, and the table says so). A `tinykd sim ...` step is started in the
background and the port it prints replaces `PORT` in the steps after it; it is stopped at the end. A step that
fails stops the tour (later steps need its output) and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FSDD = Path(os.environ.get("TINYKD_FSDD", REPO.parent / "shared" / "data" / "fsdd"))
PORT = re.compile(r"board on (/dev/\S+)")


def tour_commands(readme: Path) -> list[str]:
    text = readme.read_text()
    try:
        block = text.split("<!-- tour:begin -->", 1)[1].split("<!-- tour:end -->", 1)[0]
    except IndexError:
        raise SystemExit(f"{readme}: no <!-- tour:begin --> ... <!-- tour:end --> block") from None
    out = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line.startswith("tinykd "):
            out.append(line)
    return out


def prepare(cmd: str, fsdd: Path, work: Path, epochs: int | None, port: str | None) -> list[str]:
    argv = []
    for tok in shlex.split(cmd):
        if tok == "FSDD":
            tok = str(fsdd)
        elif tok.startswith("runs/") or tok == "runs":
            tok = str(work / tok)
        elif tok == "PORT":
            if port is None:
                raise SystemExit(f"{cmd!r} needs a port, but no `tinykd sim` step came before it")
            tok = port
        argv.append(tok)
    if epochs is not None:
        for i, tok in enumerate(argv[:-1]):
            if tok == "--epochs":
                argv[i + 1] = str(epochs)
    exe = shutil.which("tinykd", path=str(REPO / ".venv" / "bin")) or "tinykd"
    return [exe, *argv[1:]]


def start_sim(argv: list[str], timeout: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line.rstrip())
        m = PORT.search(line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise SystemExit(f"{' '.join(argv)} printed no port: {' | '.join(seen[-5:])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fsdd", type=Path, default=FSDD)
    ap.add_argument("--epochs", type=int, default=None, help="replace every --epochs N of the tour (default: as written)")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--step-timeout", type=float, default=3600)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not (args.fsdd / "recordings").is_dir():
        print(f"FSDD not found at {args.fsdd}; nothing to run", file=sys.stderr)
        return 1
    work = args.work or Path(tempfile.mkdtemp(prefix="tinykd-tour-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, sims, port, ok = [], [], None, True
    try:
        for cmd in tour_commands(REPO / "README.md"):
            argv = prepare(cmd, args.fsdd, work, args.epochs, port)
            t0 = time.monotonic()
            if argv[1] == "sim":
                proc, port = start_sim(argv, min(args.step_timeout, 900))
                sims.append(proc)
                rows.append({"command": cmd, "seconds": round(time.monotonic() - t0, 1), "status": "ok",
                             "last": f"board on {port}"})
            else:
                try:
                    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=args.step_timeout)
                    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
                    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
                except subprocess.TimeoutExpired:
                    status, lines = f"timed out after {args.step_timeout:g} s", []
                rows.append({"command": cmd, "seconds": round(time.monotonic() - t0, 1), "status": status,
                             "last": lines[-1].strip() if lines else ""})
            print(json.dumps(rows[-1]), flush=True)
            if rows[-1]["status"] != "ok":
                ok = False
                break
    finally:
        for proc in sims:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    note = f"--epochs {args.epochs} in place of the README's" if args.epochs is not None else "as written"
    print(f"\nREADME tour on {args.fsdd} ({note}); work folder {work}\n")
    print("| step | wall s | status | last line |\n|---|---|---|---|")
    for r in rows:
        last = r["last"].replace("|", "\\|")[:100]
        print(f"| `{r['command']}` | {r['seconds']:.0f} | {r['status']} | {last} |")
    print(f"\ntotal {sum(r['seconds'] for r in rows) / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps({"epochs": args.epochs, "rows": rows}, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
