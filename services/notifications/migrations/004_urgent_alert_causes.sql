-- Which alert each urgent cause went into, per recipient: causes are coalesced into one
-- alert (see domain/urgent_alerts.py), and a cause already placed is never placed again.
CREATE TABLE urgent_alert_causes (
    cause_id       text NOT NULL,
    recipient_role text NOT NULL,
    recipient_id   text NOT NULL,
    message_id     uuid NOT NULL REFERENCES messages (id),
    patient_id     uuid NOT NULL,
    site_id        text NOT NULL,
    cause_type     text NOT NULL,
    placed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cause_id, recipient_role, recipient_id)
);
CREATE INDEX urgent_alert_causes_message ON urgent_alert_causes (message_id);
SELECT iopnet_confine_to_site('urgent_alert_causes');

-- A recipient's latest urgent alert about a patient.
CREATE INDEX messages_urgent_alerts ON messages (patient_id, recipient_role, recipient_id)
    WHERE kind = 'urgent_alert';
