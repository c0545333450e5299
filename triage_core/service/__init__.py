"""The reference email triage service: HTTP API, Redis Streams queue and worker, Postgres
store, Redis result cache, Prometheus metrics and a TF-Serving-compatible model server.

It imports the pipeline; the ops CLI (`triage_ops`) imports `keys` and `metrics` names from
here so both packages agree on what lives where.
"""
