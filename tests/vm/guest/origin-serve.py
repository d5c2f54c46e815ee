"""An image server for the streaming scenarios, run inside the guest:
tests/http/origin.py (Range, HEAD) on 127.0.0.1:PORT serving the files
given, as /files/BASENAME and /hang/BASENAME. While the file HANGFILE
exists, /hang/ requests send their headers and then nothing (a hung
server). Usage: origin-serve.py PORT HANGFILE FILE..."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "http"))
from origin import Origin  # noqa: E402

port, hangfile, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
o = Origin(port=port)
for f in files:
    with open(f, "rb") as fh:
        o.add(os.path.basename(f), fh.read())
print("origin-serve: listening on %s" % o.url, flush=True)
while True:
    o.hanging = os.path.exists(hangfile)
    time.sleep(0.05)
