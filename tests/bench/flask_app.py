"""Benchmark peer: the Flask service that observd replaces.

Copied from the reference peers (bench/peers/flask_app.py) unchanged in
behaviour; tests/bench/run.sh runs it under gunicorn (gunicorn.conf.py,
2 sync workers) with SERVICE_NAME=observd, so /health answers the same
JSON as observd's.

Routes /, /health and /metrics, with the three metrics of the original
service:
  app_requests_total{method,endpoint,status}      counter
  app_errors_total{endpoint,status}               counter (status >= 400)
  app_request_duration_seconds{endpoint}          histogram (default buckets)
`endpoint` is the matched route or "other", so random paths add no series.

Run it under gunicorn with gunicorn.conf.py: with more than one worker,
prometheus_client must be in multiprocess mode (PROMETHEUS_MULTIPROC_DIR set
before this module is imported, directory empty at start; the config file
takes care of the emptying) or each scrape would show one random worker.
"""
import os
import time

from flask import Flask, Response, g, jsonify, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry,
                               Counter, Histogram, generate_latest, multiprocess)

SERVICE = os.environ.get("SERVICE_NAME", "example-app")
MULTIPROC = "PROMETHEUS_MULTIPROC_DIR" in os.environ

app = Flask(__name__)

REQUESTS = Counter("app_requests_total", "Total HTTP requests",
                   ["method", "endpoint", "status"])
ERRORS = Counter("app_errors_total", "Total HTTP error responses",
                 ["endpoint", "status"])
LATENCY = Histogram("app_request_duration_seconds", "HTTP request latency",
                    ["endpoint"])

PAGE = """<!doctype html><html><head><title>{0}</title></head>
<body><h1>{0}</h1><p>Running.</p></body></html>"""


@app.before_request
def _start():
    g.t0 = time.perf_counter()


@app.after_request
def _record(resp):
    endpoint = request.url_rule.rule if request.url_rule else "other"
    status = str(resp.status_code)
    REQUESTS.labels(request.method, endpoint, status).inc()
    if resp.status_code >= 400:
        ERRORS.labels(endpoint, status).inc()
    LATENCY.labels(endpoint).observe(time.perf_counter() - g.t0)
    return resp


@app.route("/")
def index():
    return PAGE.format(SERVICE)


@app.route("/health")
def health():
    return jsonify(status="healthy", service=SERVICE)


@app.route("/metrics")
def metrics():
    if MULTIPROC:
        # A fresh registry per scrape, as prometheus_client documents: the
        # collector reads and merges every worker's files each time.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
