-- An assessment a clinician corrected as entered in error (AssessmentEnteredInError) stays
-- listed, marked: its FHIR Observation's status is then entered-in-error. Existing
-- corrections are marked from the events that recorded them, as a rebuild would.
ALTER TABLE assessments ADD COLUMN entered_in_error boolean NOT NULL DEFAULT false;
UPDATE assessments a SET entered_in_error = true FROM events e
 WHERE e.event_type = 'iopnet.AssessmentEnteredInError'
   AND e.envelope->'data'->>'assessment_id' = a.assessment_id::text;
