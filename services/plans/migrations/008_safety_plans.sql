-- The safety plan, as intake publishes it (SafetyPlanRecorded, SafetyPlanReviewed): the
-- days it was written or reviewed; its content stays in intake. A step-down or a completed
-- discharge after a risk finding needs one written or reviewed since the latest finding.
CREATE TABLE safety_plan_reviews (
    event_id        text PRIMARY KEY,
    patient_id      uuid NOT NULL,
    site_id         text NOT NULL,
    safety_plan_id  text NOT NULL,
    kind            text NOT NULL,
    reviewed_on     date NOT NULL,
    clinician_id    text NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX safety_plan_reviews_patient ON safety_plan_reviews (patient_id, reviewed_on);

SELECT iopnet_confine_to_site('safety_plan_reviews');
