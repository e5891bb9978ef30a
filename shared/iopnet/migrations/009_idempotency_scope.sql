-- Idempotency keys: scoped without ambiguity, tied to their patient, kept 72 hours.
-- The key was '<site>:<client key>', and site ids may contain ':'; it is now a digest
-- of the JSON pair [site, client key]. Answers can hold names and emails: they go
-- when the patient is forgotten, and every answer goes after 72 hours.
ALTER TABLE idempotency_keys ADD COLUMN patient_id text;
CREATE INDEX idempotency_keys_patient ON idempotency_keys (patient_id) WHERE patient_id IS NOT NULL;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
