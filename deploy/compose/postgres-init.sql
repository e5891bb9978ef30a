-- Runs once, when the Compose Postgres volume is empty: one database per service,
-- each the service's own event store and read models. No service reads another's.
CREATE DATABASE intake;
CREATE DATABASE plans;
CREATE DATABASE sessions;
CREATE DATABASE family;
CREATE DATABASE notifications;
