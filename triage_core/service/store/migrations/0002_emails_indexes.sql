-- The runbook's indexes (performance runbook): listing by age and counting by status.
-- The runbook builds them with CREATE INDEX CONCURRENTLY, which cannot run inside the
-- transaction every migration gets; on a fresh or small table the plain form is instant.
-- On a large table that predates this migration, create them CONCURRENTLY by hand first:
-- IF NOT EXISTS then makes this migration a no-op.
CREATE INDEX IF NOT EXISTS idx_emails_created_at ON emails (created_at);
CREATE INDEX IF NOT EXISTS idx_emails_status ON emails (status);
