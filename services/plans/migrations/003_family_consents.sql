-- The patient's consents to involve family, from family's events: the plan has family
-- therapy while one is live. They may arrive before the admission does, so nothing here
-- references care_episodes.
CREATE TABLE family_consents (
    patient_id        uuid NOT NULL,
    consent_id        text NOT NULL,
    site_id           text NOT NULL,
    support_person_id text NOT NULL,
    scope             text NOT NULL,
    expires_on        date,
    granted_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    PRIMARY KEY (patient_id, consent_id)
);

SELECT iopnet_confine_to_site('family_consents');
