-- Family's ConsentExpired: the first day the consent no longer held. It has ended, as a
-- revoked one has, whatever day plans reads it on.
ALTER TABLE family_consents ADD COLUMN expired_on date;
