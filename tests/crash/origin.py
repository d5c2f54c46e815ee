"""origin.py: the download server of the power-cut test, an nginx on the build
host (the guest reaches it as 10.0.2.2): static files with ETag,
Last-Modified and Range, each connection held to a rate so that a download
spans several power cuts."""
import os
import subprocess
import time
import urllib.request

from vm import free_port, spawn

CONF = """daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log {w}/nginx-access.log;
    client_body_temp_path {w}/tmp-body;
    proxy_temp_path {w}/tmp-proxy;
    fastcgi_temp_path {w}/tmp-fastcgi;
    uwsgi_temp_path {w}/tmp-uwsgi;
    scgi_temp_path {w}/tmp-scgi;
    server {{
        listen 127.0.0.1:{port};
        root {w}/srv;
        limit_rate {rate};
    }}
}}
"""


class Origin:
    def __init__(self, work, rate="1m", port=None):
        self.work = os.path.join(work, "origin")
        self.srv = os.path.join(self.work, "srv")
        os.makedirs(self.srv, exist_ok=True)
        self.port = port or free_port()
        conf = os.path.join(self.work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(w=self.work, port=self.port, rate=rate))
        self.proc = spawn(["nginx", "-c", conf, "-e", os.path.join(self.work, "nginx-error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        probe = os.path.join(self.srv, "probe")
        with open(probe, "w") as f:
            f.write("ok")
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/probe" % self.port, timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx does not answer on port %d" % self.port)

    def add(self, name, data):
        """Serves DATA as /NAME; returns the URL the guest uses."""
        path = os.path.join(self.srv, name)
        with open(path + ".new", "wb") as f:
            f.write(data)
        os.rename(path + ".new", path)
        return "http://10.0.2.2:%d/%s" % (self.port, name)

    def remove(self, name):
        try:
            os.unlink(os.path.join(self.srv, name))
        except FileNotFoundError:
            pass

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
