-- The consent expiry job (consent_expiry.py): the first day a consent no longer held, once
-- its ConsentExpired is recorded. The job looks only at consents with neither this nor a
-- revocation, so the index holds just those.
ALTER TABLE consents ADD COLUMN expired_on date;
CREATE INDEX consents_expiry_due ON consents (expires_on)
    WHERE revoked_at IS NULL AND expired_on IS NULL;
