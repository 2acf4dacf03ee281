"""gunicorn settings for one Prometheus scrape that totals every worker (SPEC §12).

With ``PROMETHEUS_MULTIPROC_DIR`` set to an empty directory the process can
write (cleared before each start), each worker of
``BasicAuth(app, users, metrics=Metrics(registry=prometheus_client.REGISTRY))``
writes its counts there, and a scrape through a
``multiprocess.MultiProcessCollector`` reads them all::

    rm -rf /run/myapp-metrics && mkdir /run/myapp-metrics
    PROMETHEUS_MULTIPROC_DIR=/run/myapp-metrics gunicorn -c gunicorn.conf.py -w 4 myapp:app
"""

from prometheus_client import multiprocess


def child_exit(server, worker):
    # A worker that exits stops counting in the live gauges (slots in use);
    # its counters stay in the totals.
    multiprocess.mark_process_dead(worker.pid)
