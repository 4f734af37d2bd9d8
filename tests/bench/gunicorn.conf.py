# gunicorn settings for the Flask peer (flask_app.py) of tests/bench/run.sh
# (copied from bench/peers/gunicorn.conf.py), with prometheus_client's
# multiprocess mode, which is what makes /metrics add up over all workers:
# every worker writes its samples to mmap'ed files named after its pid in
# $PROMETHEUS_MULTIPROC_DIR and /metrics merges all files found there.
#
# Worker class and count come from the command line, e.g.
#   PROMETHEUS_MULTIPROC_DIR=/tmp/prom gunicorn -c gunicorn.conf.py -w 2 flask_app:app
#   ... -k gthread --threads 4 ...
import glob
import os

from prometheus_client import multiprocess

loglevel = "warning"
accesslog = None
backlog = 2048          # gunicorn's default, spelled out: the idle-connection test opens 5,000


def on_starting(server):
    """The directory must exist and be empty before any worker starts:
    files left by an earlier run would be added to this run's counters."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        raise RuntimeError("set PROMETHEUS_MULTIPROC_DIR for more than one worker")
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    """Drop a dead worker's live-gauge files (counters and histograms are
    kept, so totals do not go backwards when gunicorn replaces a worker)."""
    multiprocess.mark_process_dead(worker.pid)
