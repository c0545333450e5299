"""The local sandbox: the whole service as real processes on loopback.

PostgreSQL, Redis, Prometheus and Alertmanager from the system packages, plus the model
server, the API and a worker from this repository, each a detached process under one state
directory. `up` is idempotent (a second `up` on a running sandbox reuses it), `down` stops
exactly the processes `up` recorded, `status` reports what runs.
"""
