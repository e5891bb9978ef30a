-- A record's headers exactly as they came, as [name, value] pairs in base64: a header
-- may hold bytes that no text column takes (a NUL, invalid UTF-8). ``headers`` keeps a
-- readable copy. Parked records keep theirs too: a redrive applies them byte for byte.
ALTER TABLE dead_letters ADD COLUMN raw_headers jsonb;
ALTER TABLE parked_records ADD COLUMN raw_headers jsonb;
