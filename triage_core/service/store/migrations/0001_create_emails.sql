-- The emails table: one row per Message-ID, written by the API (queued) and the worker.
-- gen_random_uuid() is built in since PostgreSQL 13.
CREATE TABLE IF NOT EXISTS emails (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id   text        NOT NULL UNIQUE,
    status       text        NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'processing', 'processed', 'failed')),
    category     text,
    priority     text,
    summary      text,
    result       jsonb,
    attempts     integer     NOT NULL DEFAULT 0,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
