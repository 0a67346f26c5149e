"""The run on a small disk of its own (a tmpfs in a private mount namespace, made
with `unshare`): it fills the disk, room is made for fewer bytes than the results
file already holds, and --resume, which only appends, finishes. Used by the
engine's tests and by the matrix, on each Python."""

import json
import os
import re
import shutil
import subprocess

import rendering

UNAVAILABLE = "no tmpfs of our own here (Linux unshare with mount namespaces)"

# Run inside the namespace; prints each step's exit code and stderr as JSON.
SCRIPT = """
import json, os, subprocess, sys
from pathlib import Path

disk, run_cli, pool = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
listing, out = Path(sys.argv[4]), disk / "results.jsonl"
command = [sys.executable, run_cli, "--lines", str(listing), "--output", str(out),
           "--pool", pool, "--workers", "2", "--no-progress"]

def free():
    stat = os.statvfs(disk)
    return stat.f_bavail * stat.f_frsize

chunks = []  # the disk filled to 64 KiB free, in chunks of 8 KiB
while free() > 64 * 1024:
    chunks.append(disk / f"filler{len(chunks)}")
    chunks[-1].write_bytes(bytes(8192))
steps = {"first": subprocess.run(command, capture_output=True, text=True)}
steps["first size"] = out.stat().st_size
for chunk in chunks[:6]:  # 48 KiB of room: less than the file holds
    chunk.unlink()
steps["room"] = free()
steps["resume"] = subprocess.run(command + ["--resume"], capture_output=True, text=True)
steps = {name: [step.returncode, step.stderr] if hasattr(step, "stderr") else step
         for name, step in steps.items()}
steps["lines"] = out.read_text().splitlines()
print(json.dumps(steps))
"""


def available() -> bool:
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"]
    try:
        return bool(shutil.which("unshare")) and subprocess.run(probe).returncode == 0
    except OSError:
        return False


def check_resume_after_a_full_disk(project, python, pool, tmp_path) -> None:
    # Lines of about 260 bytes: the first run writes about 250 of the 400 (64 KiB);
    # the other 150 fit in the 48 KiB made free, and a copy of the file would not.
    listing = tmp_path / "lines.txt"
    listing.write_text("".join(f"{'x' * 200} {i}\n" for i in range(400)))
    (tmp_path / "disk").mkdir()
    (tmp_path / "driver.py").write_text(SCRIPT)
    mount = 'mount -t tmpfs -o size=512k tmpfs "$0" && exec "$@"'
    driver = [python, tmp_path / "driver.py", tmp_path / "disk"]
    driver += [rendering.ENGINE / "run_cli.py", pool, listing]
    path = os.pathsep.join([str(project), str(rendering.ENGINE)])
    env = {**os.environ, "PYTHONPATH": path, "PFOR_PACKAGE": project.name}
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", mount, tmp_path / "disk", *driver],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)
    code, stderr = steps["first"]
    assert code == 1 and "No space left on device" in stderr, stderr
    assert re.search(r"The \d+ lines written are whole", stderr), stderr
    assert steps["room"] < steps["first size"]
    code, stderr = steps["resume"]
    assert code == 0, stderr
    records = [json.loads(line) for line in steps["lines"]]  # each one whole
    assert sorted(r["index"] for r in records) == list(range(400))
    assert all(r["result"] == len(r["item"]) for r in records)
