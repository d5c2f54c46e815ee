"""Connection limits: a slowloris client cannot keep a normal one out."""
import socket
import threading
import time


def _slow_client(stop, accepted, closed):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))	# another loopback address: another "client"
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", PORT[0]))
        s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n")
        accepted.append(s)
        while not stop.is_set():
            s.sendall(b"X")	# a byte every half second: never a whole header
            time.sleep(0.5)
    except OSError:
        closed.append(s)


PORT = [0]


def test_slowloris_does_not_stop_a_normal_client(make_server):
    srv = make_server(["--max-per-ip", "8", "--timeout", "30"])
    PORT[0] = srv.port
    stop = threading.Event()
    accepted, closed = [], []
    threads = [threading.Thread(target=_slow_client, args=(stop, accepted, closed))
               for _ in range(40)]
    for t in threads:
        t.start()
    time.sleep(2)
    try:
        # Past the per-address limit the slow client's connections are closed.
        assert len(closed) >= 40 - 8 - 1, (len(accepted), len(closed))
        for _ in range(5):
            t0 = time.time()
            r = srv.api.get("/status")
            assert r.status_code == 200
            assert time.time() - t0 < 1.0
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        for s in accepted:
            s.close()


def test_idle_connections_are_closed_after_the_timeout(make_server):
    srv = make_server(["--timeout", "1"])
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"GET /status HTTP/1.1\r\n")	# and then nothing
    s.settimeout(5)
    t0 = time.time()
    assert s.recv(100) == b""	# closed by the server
    assert time.time() - t0 < 3.5
    s.close()


def test_four_browsers_behind_one_address_fit_by_default(make_server):
    # A browser profile keeps up to six connections to a host, one per open
    # tab an event stream. Four profiles from one address (two operators
    # behind a NAT, two browsers each): 24 held connections, and a script's
    # request besides, are all served.
    srv = make_server([])
    held = []
    try:
        for i in range(24):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.settimeout(5)
            if i % 6 == 0:	# the event stream of each profile's tab
                s.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert s.recv(64).startswith(b"HTTP/1.1 200"), i
            else:		# a kept-alive connection that served a request
                s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert s.recv(64).startswith(b"HTTP/1.1 200"), i
            held.append(s)
        r = srv.api.get("/status")
        assert r.status_code == 200
    finally:
        for s in held:
            s.close()
