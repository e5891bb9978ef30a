-- What each consent covers is family's word (ConsentGranted v2 `covers`); plans no longer
-- reads a meaning into the scope. Rows from v1 grants get the v1 meaning (the upcaster's).
ALTER TABLE family_consents ADD COLUMN covers text[] NOT NULL DEFAULT '{}';
UPDATE family_consents SET covers = CASE scope
    WHEN 'progress_summaries' THEN ARRAY['progress_summaries', 'schedule']
    ELSE ARRAY[scope] END;

-- Family therapy offered to the clinician while a consent covers family participation:
-- FamilyTherapySuggested, closed by FamilyTherapySuggestionClosed (accepted or lapsed).
CREATE TABLE family_therapy_suggestions (
    patient_id     uuid NOT NULL,
    suggestion_id  text NOT NULL,
    site_id        text NOT NULL,
    consent_id     text NOT NULL,
    suggested_at   timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'open',
    closed_at      timestamptz,
    revision       integer,
    clinician_id   text,
    reason         text,
    recorded_by    text,
    PRIMARY KEY (patient_id, suggestion_id)
);

SELECT iopnet_confine_to_site('family_therapy_suggestions');
