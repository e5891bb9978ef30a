-- Per-key request rates, one row per key, shared by every API replica of the service:
-- when the key's next request is due on average (auth/ratelimit.py). Unlogged: rates are
-- not worth a WAL record each, and after a crash every key simply starts afresh.
CREATE UNLOGGED TABLE rate_limits (
    key_id text PRIMARY KEY,
    due_at timestamptz NOT NULL
);
