"""The fixtures themselves: what make_server counts as a failed stop."""
import os
import signal

from conftest import Server


def test_a_vmediad_that_has_to_be_sigkilled_is_a_problem(tmpdir_path):
    srv = Server(os.path.join(tmpdir_path, "images"), os.path.join(tmpdir_path, "v.log")).start()
    srv.stop_timeout = 1
    # Stopped, it cannot act on the SIGTERM: stop() has to SIGKILL it.
    os.kill(srv.proc.pid, signal.SIGSTOP)
    assert srv.stop() == -signal.SIGKILL
    problems = srv.stop_problems()
    assert len(problems) == 1 and "had to be SIGKILLed" in problems[0], problems


def test_only_a_deliberate_sigkill_may_end_in_minus_9(tmpdir_path):
    srv = Server(os.path.join(tmpdir_path, "images"), os.path.join(tmpdir_path, "v.log")).start()
    assert srv.stop(signal.SIGKILL) == -signal.SIGKILL
    srv.start()
    assert srv.stop() == 0
    assert srv.stop_problems() == []
    assert srv.stop() is None	# not running: nothing to check
    srv.start()
    os.kill(srv.proc.pid, signal.SIGKILL)	# dies by itself, as far as stop() knows
    srv.proc.wait()
    srv.stop()
    problems = srv.stop_problems()
    assert len(problems) == 1 and "had already exited" in problems[0], problems
