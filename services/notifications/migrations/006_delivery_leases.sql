-- A rotated webhook secret keeps signing beside the new one for a while (SiteChannelsSet v2).
ALTER TABLE site_channels ADD COLUMN previous_webhook_secret text;
ALTER TABLE site_channels ADD COLUMN previous_secret_until timestamptz;

-- Bookkeeping of the delivery job: a message being sent is leased to one worker until
-- leased_until, so the send runs outside any transaction and a killed worker's lease
-- lapses. Not derived from events: a rebuild leaves it alone.
CREATE TABLE message_leases (
    message_id   uuid PRIMARY KEY,
    site_id      text NOT NULL,
    leased_until timestamptz NOT NULL
);
CREATE INDEX message_leases_site ON message_leases (site_id, leased_until);
SELECT iopnet_confine_to_site('message_leases');
