-- Closed-loop urgent alerts (domain/alerts.py): each alert to the site's clinicians is
-- acknowledged by one of them or, past its window, escalated to the site's second contact.
-- Derived from the alert streams; escalate_at is what the worker's escalation job reads,
-- so a restart loses nothing.
CREATE TABLE alerts (
    alert_id        uuid PRIMARY KEY,
    patient_id      uuid NOT NULL,
    site_id         text NOT NULL,
    alert_reasons   jsonb NOT NULL DEFAULT '[]',
    status          text NOT NULL,
    raised_at       timestamptz NOT NULL,
    escalate_at     timestamptz NOT NULL,
    escalated_at    timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text
);
CREATE INDEX alerts_patient ON alerts (patient_id, raised_at);
CREATE INDEX alerts_site_unacknowledged ON alerts (site_id, raised_at)
    WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_escalation_due ON alerts (escalate_at) WHERE status = 'open';
SELECT iopnet_confine_to_site('alerts');

-- The site's second contact and its acknowledgement window (SiteChannelsSet v3).
ALTER TABLE site_channels ADD COLUMN escalation_email text;
ALTER TABLE site_channels ADD COLUMN acknowledge_within_seconds double precision;
