CREATE TABLE family_circles (
    patient_id  uuid PRIMARY KEY,
    site_id     text NOT NULL,
    admitted_on date NOT NULL,
    sharing     text NOT NULL
);
CREATE INDEX family_circles_site ON family_circles (site_id);
