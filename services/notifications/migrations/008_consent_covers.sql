-- What each consent covers, as family published it on ConsentGranted (v2 `covers`):
-- notifications reads it instead of deriving it from the scope. Rows consumed before
-- this release take it from the inbox's copy of their event; a v1 grant has none, and is
-- read with the catalog's upcaster's meaning (store.consents_of).
ALTER TABLE consents ADD COLUMN covers text[];
UPDATE consents c
   SET covers = ARRAY(SELECT jsonb_array_elements_text(a.envelope -> 'data' -> 'covers'))
  FROM applied_events a
 WHERE a.event_type = 'iopnet.ConsentGranted'
   AND a.envelope -> 'data' ->> 'consent_id' = c.consent_id
   AND jsonb_typeof(a.envelope -> 'data' -> 'covers') = 'array';
