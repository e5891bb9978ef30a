-- Runs once, when the Compose Postgres volume is empty: one database per service,
-- each the service's own event store and read models. No service reads another's.
-- Its tables belong to iopnet_owner, who runs the migrations; the services connect
-- as iopnet_runtime, a member of the request and worker roles that owns nothing
-- (docs/security.md). Both logins take the superuser's password (IOPNET_PG_PASSWORD).
\getenv password POSTGRES_PASSWORD
CREATE ROLE iopnet_owner LOGIN PASSWORD :'password';
CREATE ROLE iopnet_runtime LOGIN PASSWORD :'password';
CREATE ROLE iopnet_api NOLOGIN;
CREATE ROLE iopnet_worker NOLOGIN;
CREATE ROLE iopnet_audit_admin NOLOGIN;
GRANT iopnet_api, iopnet_worker TO iopnet_runtime;
CREATE DATABASE intake OWNER iopnet_owner;
CREATE DATABASE plans OWNER iopnet_owner;
CREATE DATABASE sessions OWNER iopnet_owner;
CREATE DATABASE family OWNER iopnet_owner;
CREATE DATABASE notifications OWNER iopnet_owner;
