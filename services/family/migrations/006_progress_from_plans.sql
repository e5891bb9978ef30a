-- "Improving" has one definition, plans': its ProgressJudged says where each PHQ-9 stands
-- against the baseline. Family keeps that judgement, and no longer the totals it judged
-- itself. A measure of an earlier release gets its trend when plans judges the next one.
DROP TABLE phq9_measures;

CREATE TABLE progress_trends (
    measure_id  text PRIMARY KEY,
    patient_id  uuid NOT NULL,
    site_id     text NOT NULL,
    trend       text NOT NULL,
    measured_on date NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX progress_trends_patient ON progress_trends (patient_id, measured_on);

SELECT iopnet_confine_to_site('progress_trends');
