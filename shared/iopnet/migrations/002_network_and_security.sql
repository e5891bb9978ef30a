-- Sites, API keys and the audit trail every service keeps; the role API requests
-- run as, and the row-level security that confines them to their site.

CREATE TABLE sites (
    site_id    text PRIMARY KEY,
    name       text NOT NULL,
    time_zone  text NOT NULL,
    policies   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id                text PRIMARY KEY,
    site_id               text NOT NULL,
    secret_sha256         text NOT NULL,
    scopes                text[] NOT NULL,
    expires_at            timestamptz,
    rate_limit_per_minute integer NOT NULL,
    replaces              text,
    issued_at             timestamptz NOT NULL,
    revoked_at            timestamptz
);
CREATE INDEX api_keys_site ON api_keys (site_id);

-- Every read and write of patient data: who, for which site, what, when, and how it ended.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    key_id      text,
    site_id     text,
    action      text NOT NULL,
    resource    text NOT NULL,
    outcome     integer NOT NULL,
    correlation text
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_site_at ON audit_log (site_id, at);

CREATE FUNCTION iopnet_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION iopnet_refuse_change();

-- API requests run as iopnet_api (SET LOCAL ROLE), which row-level security binds;
-- projections and the relay run as the owner and see every site.
-- (An owner without CREATEROLE finds the role made by the administrator.)
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iopnet_api') THEN
        CREATE ROLE iopnet_api NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$ BEGIN
    EXECUTE format('GRANT iopnet_api TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation
    OR insufficient_privilege THEN NULL;
END $$;
GRANT USAGE ON SCHEMA public TO iopnet_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO iopnet_api;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO iopnet_api;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO iopnet_api;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO iopnet_api;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM iopnet_api;

-- The request's site; '*' is the network operator's, who reads across sites.
CREATE FUNCTION iopnet_site() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT current_setting('iopnet.site_id', true)
$$;

-- A service migration calls this for every table whose rows belong to a site.
CREATE FUNCTION iopnet_confine_to_site(target regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format(
        'CREATE POLICY site_isolation ON %s'
        ' USING (site_id = iopnet_site() OR iopnet_site() = ''*'')'
        ' WITH CHECK (site_id = iopnet_site() OR iopnet_site() = ''*'')', target);
END $$;
