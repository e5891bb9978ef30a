-- The audit trail, partitioned by month and kept at least six years (HIPAA,
-- 45 CFR 164.316(b)(2)(i)). Months are dropped whole, and only by
-- iopnet_purge_audit(), which only the iopnet_audit_admin role may call and
-- which refuses any month younger than six years. Rows are never updated or
-- deleted, in the parent or in a partition.

ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
ALTER SEQUENCE audit_log_id_seq OWNED BY NONE;

CREATE TABLE audit_log (
    id          bigint NOT NULL DEFAULT nextval('audit_log_id_seq'),
    at          timestamptz NOT NULL DEFAULT now(),
    key_id      text,
    site_id     text,
    action      text NOT NULL,
    resource    text NOT NULL,
    outcome     integer NOT NULL,
    correlation text,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
-- A row whose month has no partition yet lands here rather than being lost.
CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_site_at_idx ON audit_log (site_id, at);

-- Row triggers on the parent are cloned onto every partition.
CREATE TRIGGER audit_log_append_only_rows BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION iopnet_refuse_change();
CREATE TRIGGER audit_log_append_only BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION iopnet_refuse_change();
CREATE TRIGGER audit_log_default_no_truncate BEFORE TRUNCATE ON audit_log_default
    FOR EACH STATEMENT EXECUTE FUNCTION iopnet_refuse_change();

-- The month's partition, made if missing, with its own TRUNCATE guard.
CREATE FUNCTION iopnet_audit_partition(month date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := format('audit_log_%s', to_char(first, 'YYYY_MM'));
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                   name, first, (first + interval '1 month')::date);
    EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION iopnet_refuse_change()', name);
END $$;

-- This month and the next two; workers call it every hour.
CREATE FUNCTION iopnet_audit_partitions_ahead() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    SELECT iopnet_audit_partition((date_trunc('month', now()) + n * interval '1 month')::date)
    FROM generate_series(0, 2) AS n;
$$;

-- Drop whole months that ended before ``before``; refuses anything younger than six years.
CREATE FUNCTION iopnet_purge_audit(before date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    partition record;
    dropped integer := 0;
BEGIN
    IF before > (now() - interval '6 years')::date THEN
        RAISE EXCEPTION 'audit rows are kept six years: % is too recent', before;
    END IF;
    FOR partition IN
        SELECT child.relname FROM pg_inherits
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid
        WHERE pg_inherits.inhparent = 'audit_log'::regclass
          AND child.relname ~ '^audit_log_\d{4}_\d{2}$'
          AND (to_date(substring(child.relname from 11), 'YYYY_MM') + interval '1 month')::date
              <= before
    LOOP
        EXECUTE format('DROP TABLE %I', partition.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;

DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iopnet_audit_admin') THEN
        CREATE ROLE iopnet_audit_admin NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
REVOKE ALL ON FUNCTION iopnet_purge_audit(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iopnet_purge_audit(date) TO iopnet_audit_admin;
REVOKE ALL ON FUNCTION iopnet_audit_partition(date) FROM PUBLIC;

SELECT iopnet_audit_partitions_ahead();
SELECT iopnet_audit_partition(month::date)
FROM (SELECT DISTINCT date_trunc('month', at) AS month FROM audit_log_unpartitioned) AS months;
INSERT INTO audit_log SELECT * FROM audit_log_unpartitioned;
DROP TABLE audit_log_unpartitioned;
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM iopnet_api;
GRANT SELECT, INSERT ON audit_log TO iopnet_api;
