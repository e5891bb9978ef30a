-- Who may do what at run time. Applied by every `migrate`, after the migrations, as
-- the tables' owner, so it also covers what a migration created since (and undoes
-- whatever a migration granted too broadly). Three kinds of role (docs/security.md):
--   the owner     runs `migrate` and owns every object; nothing else connects as it;
--   iopnet_api    the request role (SET LOCAL ROLE), confined to a site by row-level
--                 security: it appends events but never changes or deletes one, never
--                 reads a key's hash, never touches the consumer's bookkeeping;
--   iopnet_worker the workers (relay, consumer, jobs) and the API's own bookkeeping
--                 before a caller is known (authentication, rate limits, audit rows).
-- The runtime login is a member of both and owns nothing: it cannot ALTER a table,
-- so it cannot disable the audit trail's triggers or row-level security.

DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iopnet_worker') THEN
        CREATE ROLE iopnet_worker NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;  -- another migrator made it
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role iopnet_worker is missing: create it first (docs/operations.md)';
END $$;

GRANT USAGE ON SCHEMA public TO iopnet_api, iopnet_worker;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, iopnet_api, iopnet_worker;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, iopnet_api, iopnet_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM iopnet_api;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM iopnet_api;

-- Derived tables (a service's own): projections write them, for a request in the
-- append's transaction and for the worker from consumed events.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO iopnet_api, iopnet_worker;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO iopnet_api, iopnet_worker;

-- The shared bookkeeping, table by table.
REVOKE ALL ON schema_migrations FROM iopnet_api, iopnet_worker;
-- The event store: appended to, never changed. The stream's version moves on each append.
REVOKE UPDATE, DELETE ON events FROM iopnet_api, iopnet_worker;
REVOKE DELETE ON event_streams FROM iopnet_api, iopnet_worker;
-- The outbox: a request enqueues; only the relay reads, parks and deletes.
REVOKE SELECT, UPDATE, DELETE ON outbox FROM iopnet_api;
REVOKE UPDATE ON outbox FROM iopnet_worker;
GRANT UPDATE (parked_at, parked_error) ON outbox TO iopnet_worker;
-- The consumer's inbox, offsets, dead letters and what waits behind them: the worker's
-- alone. A dead letter is kept as it came; resolving one (iopctl dead-letters, which
-- may run as the services' login) only says how, and the bookkeeping round purges it.
REVOKE ALL ON applied_events, consumer_offsets, dead_letters, parked_records, held_events
    FROM iopnet_api;
REVOKE UPDATE, DELETE ON applied_events FROM iopnet_worker;
REVOKE UPDATE ON dead_letters FROM iopnet_worker;
GRANT UPDATE (error, resolved_at, resolution, resolved_by, reason) ON dead_letters
    TO iopnet_worker;
-- Rate limits and refusal counts are kept before any caller is known.
REVOKE ALL ON rate_limits FROM iopnet_api;
REVOKE INSERT, UPDATE, DELETE ON refused_requests FROM iopnet_api;
-- The audit trail: appended to; the triggers refuse the rest even to its owner.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM iopnet_api, iopnet_worker;
REVOKE DELETE ON data_keys FROM iopnet_api, iopnet_worker;

-- Keys: a request may record one (intake issues keys) and revoke one, but never read
-- a hash back; only authentication, before the request role is taken, compares them.
REVOKE SELECT, UPDATE, DELETE ON api_keys FROM iopnet_api;
GRANT UPDATE (revoked_at) ON api_keys TO iopnet_api;
DO $$
DECLARE
    readable text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ') INTO readable FROM pg_attribute
    WHERE attrelid = 'api_keys'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'secret_sha256';
    EXECUTE format('GRANT SELECT (%s) ON api_keys TO iopnet_api', readable);
END $$;
REVOKE UPDATE, DELETE ON api_keys FROM iopnet_worker;
GRANT UPDATE (revoked_at) ON api_keys TO iopnet_worker;

-- Row-level security binds whoever is not the owner: the worker sees every site.
DO $$
DECLARE
    confined regclass;
BEGIN
    FOR confined IN
        SELECT c.oid::regclass FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relrowsecurity
          AND NOT EXISTS (SELECT FROM pg_policy p
                          WHERE p.polrelid = c.oid AND p.polname = 'worker_every_site')
    LOOP
        EXECUTE format('CREATE POLICY worker_every_site ON %s TO iopnet_worker'
                       ' USING (true) WITH CHECK (true)', confined);
    END LOOP;
END $$;
