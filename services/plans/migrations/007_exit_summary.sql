-- Every exit's summary (ExitSummarized): first and last PHQ-9, response, remission,
-- attendance, risk history, safety plan status, follow-up, urgent alert.
ALTER TABLE care_transitions ADD COLUMN summary jsonb;
