-- Requests refused before anyone was identified (401): counted per source and minute
-- instead of one permanent audit row each, so unauthenticated traffic cannot grow the
-- append-only audit trail without bound. Purged after 90 days.
CREATE TABLE refused_requests (
    minute  timestamptz NOT NULL,
    source  text NOT NULL,
    action  text NOT NULL,
    count   integer NOT NULL,
    PRIMARY KEY (minute, source, action)
);
