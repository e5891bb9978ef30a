-- Continued stays: a clinician extended the stay beyond the planned weeks, with a reason
-- (plans' private ContinuedStayApproved; the reason sealed).
CREATE TABLE continued_stays (
    patient_id    uuid NOT NULL,
    extension     integer NOT NULL,
    site_id       text NOT NULL,
    weeks_added   integer NOT NULL,
    planned_end   date NOT NULL,
    clinician_id  text NOT NULL,
    reason        text,
    recorded_by   text,
    recorded_at   timestamptz NOT NULL,
    PRIMARY KEY (patient_id, extension)
);

SELECT iopnet_confine_to_site('continued_stays');
