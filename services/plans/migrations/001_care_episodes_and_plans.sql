-- The patient's care episode as plans knows it (from PatientAdmitted) and where its plan stands.
CREATE TABLE care_episodes (
    patient_id       uuid PRIMARY KEY,
    site_id          text NOT NULL,
    program_id       text NOT NULL,
    clinician_id     text NOT NULL,
    starts_on        date NOT NULL,
    planned_end      date NOT NULL,
    days_per_week    integer NOT NULL,
    planned_weeks    integer NOT NULL,
    baseline_phq9    integer NOT NULL,
    baseline_gad7    integer,
    auditc_positive  boolean NOT NULL,
    risk_level       text NOT NULL,
    co_occurring     text[] NOT NULL,
    plan_status      text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX care_episodes_site ON care_episodes (site_id, plan_status);

-- The current revision of each plan: problems -> goals -> objectives, and interventions.
CREATE TABLE treatment_plans (
    patient_id               uuid PRIMARY KEY,
    site_id                  text NOT NULL,
    plan_id                  uuid NOT NULL,
    revision                 integer NOT NULL,
    start_date               date NOT NULL,
    target_date              date NOT NULL,
    clinician_id             text NOT NULL,
    last_intervention_number integer NOT NULL,
    updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plan_problems (
    patient_id uuid NOT NULL,
    site_id    text NOT NULL,
    problem_id text NOT NULL,
    position   integer NOT NULL,
    code       text NOT NULL,
    text       text NOT NULL,
    PRIMARY KEY (patient_id, problem_id)
);

CREATE TABLE plan_goals (
    patient_id uuid NOT NULL,
    site_id    text NOT NULL,
    goal_id    text NOT NULL,
    problem_id text NOT NULL,
    position   integer NOT NULL,
    text       text NOT NULL,
    PRIMARY KEY (patient_id, goal_id)
);

CREATE TABLE plan_objectives (
    patient_id   uuid NOT NULL,
    site_id      text NOT NULL,
    objective_id text NOT NULL,
    goal_id      text NOT NULL,
    position     integer NOT NULL,
    text         text NOT NULL,
    target_date  date NOT NULL,
    PRIMARY KEY (patient_id, objective_id)
);

CREATE TABLE plan_interventions (
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    intervention_id   text NOT NULL,
    position          integer NOT NULL,
    modality          text NOT NULL,
    sessions_per_week integer NOT NULL,
    clinician_id      text NOT NULL,
    target_date       date NOT NULL,
    addresses         text[] NOT NULL,
    PRIMARY KEY (patient_id, intervention_id)
);

-- Every revision, the draft included: what changed, why, who, and the clinician's note
-- (free text: it stays here and never rides on an event).
CREATE TABLE plan_revisions (
    patient_id    uuid NOT NULL,
    site_id       text NOT NULL,
    revision      integer NOT NULL,
    event_id      uuid NOT NULL,
    recorded_at   timestamptz NOT NULL,
    reason        text,
    note          text,
    recorded_by   text,
    change_codes  text[] NOT NULL,
    changes       jsonb NOT NULL,
    interventions jsonb NOT NULL,
    PRIMARY KEY (patient_id, revision)
);

-- How the IOP episode ended: step-down (with aftercare), step-up or discharge.
CREATE TABLE care_transitions (
    patient_id            uuid PRIMARY KEY,
    site_id               text NOT NULL,
    kind                  text NOT NULL,
    effective_on          date NOT NULL,
    to_level              text,
    aftercare             text[],
    follow_up_within_days integer,
    reason_codes          text[],
    outcome               text,
    clinician_id          text,
    override_reason       text,
    overridden_criteria   text[],
    event_id              uuid NOT NULL,
    recorded_at           timestamptz NOT NULL,
    recorded_by           text
);

SELECT iopnet_confine_to_site('care_episodes');
SELECT iopnet_confine_to_site('treatment_plans');
SELECT iopnet_confine_to_site('plan_problems');
SELECT iopnet_confine_to_site('plan_goals');
SELECT iopnet_confine_to_site('plan_objectives');
SELECT iopnet_confine_to_site('plan_interventions');
SELECT iopnet_confine_to_site('plan_revisions');
SELECT iopnet_confine_to_site('care_transitions');
