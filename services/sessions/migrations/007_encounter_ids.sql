-- A patient's place at a session is a FHIR Encounter whose id is the md5 of both ids
-- (services/sessions/api/fhir.py): found by it without reading every row.
CREATE INDEX patient_sessions_encounter
    ON patient_sessions ((md5(session_id::text || '/' || patient_id::text)::uuid));
-- And an Observation (a measure) by its id, from the OutcomeMeasured that recorded it.
CREATE INDEX events_outcome_measured ON events ((envelope->'data'->>'measure_id'))
    WHERE event_type = 'iopnet.OutcomeMeasured';
