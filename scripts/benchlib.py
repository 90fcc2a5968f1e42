"""What the benchmark scripts share: ports, HTTP requests, uploads, the
pages and variants they load, the machine line. Imported by
scripts/bench-serve, scripts/bench-pair and scripts/bench-scale."""
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAKE_CORPUS = ROOT / "scripts" / "make-corpus"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    sys.exit(f"{url} did not answer")


def request(method, url, token=None, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        # The status alone does not say which 400 it was: keep what the
        # server said, so a failed run names its cause.
        e.msg = f"{e.msg}: {e.read()[:500].decode(errors='replace')}"
        raise


def upload_bytes(base, token, data):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return json.loads(request("POST", f"{base}/api/photos", token, body,
                              {"Content-Type": f"multipart/form-data; boundary={boundary}"}))


def upload(base, token, path):
    return upload_bytes(base, token, path.read_bytes())


def settle(base, token, ids):
    """Waits until none of the photos `ids` is pending any more."""
    for pid in ids:
        while json.loads(request("GET", f"{base}/api/photos/{pid}", token))["status"] == "pending":
            time.sleep(0.1)


def display_near(base, token, ids, size=200_000):
    """The URL of the JPEG `display` variant, of the first 12 photos `ids`,
    whose size is closest to `size` bytes."""
    urls = [v["url"] for pid in ids[:12]
            for v in json.loads(request("GET", f"{base}/api/photos/{pid}", token))["variants"]
            if v["name"] == "display" and v["format"] == "jpeg"]
    return min(urls, key=lambda u: abs(len(request("GET", base + u)) - size))


def last_page(base, photos):
    """The gallery's page of its 3 oldest photos, by the keyset cursor (the
    page a site with 3 photos shows), of a site with `photos` photos."""
    after = json.loads(request("GET", f"{base}/api/photos?sort=newest&limit={photos - 3}"))["next_cursor"]
    url = f"{base}/?after={after}"
    assert request("GET", url).count(b'<li class="tile ') == 3, "the small page shows 3 photos"
    return url


def machine():
    cpu = open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()
    return f"{os.cpu_count()} cores, {cpu}"


def distinct_jpeg(data, tag):
    """`data` (a JPEG) with a comment segment holding `tag` after its SOI
    marker: the same picture, other bytes, so it uploads as a new photo."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    text = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + data[2:]


def cli(binary, data_dir, args, stdin=""):
    """Runs a scoot subcommand on `data_dir`; returns its stdout."""
    out = __import__("subprocess").run(
        [str(binary), "--data-dir", str(data_dir), *args], input=stdin.encode(),
        capture_output=True, check=True)
    return out.stdout.decode().strip()
