-- Messages and their delivery log are projected from the message streams now: each
-- delivery row names its patient (so forgetting the patient deletes it), and times come
-- from the events, not from the moment a row is written.
ALTER TABLE delivery_log ADD COLUMN patient_id uuid;
UPDATE delivery_log d SET patient_id = m.patient_id FROM messages m WHERE m.id = d.message_id;
ALTER TABLE delivery_log ALTER COLUMN patient_id SET NOT NULL;
CREATE INDEX delivery_log_patient ON delivery_log (patient_id);
CREATE INDEX urgent_alert_causes_patient ON urgent_alert_causes (patient_id);
