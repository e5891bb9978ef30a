-- Who decided the level of care, whether against the rules (PatientAdmitted and
-- AdmissionDeclined v2) and why (the private OverrideReasoned, sealed); the safety plan
-- in force (SafetyPlanRecorded). Rows of an earlier release keep NULL: unknown.
ALTER TABLE patients ADD COLUMN decided_by text;
ALTER TABLE patients ADD COLUMN overridden boolean;
ALTER TABLE patients ADD COLUMN rules_level text;
ALTER TABLE patients ADD COLUMN override_reason text;
ALTER TABLE patients ADD COLUMN safety_plan_id uuid;
-- The patient's age at referral (PatientReferred v2) and the physician's certification
-- of the need for IOP, with the day it must be renewed by (PatientCertified).
ALTER TABLE patients ADD COLUMN age_at_referral integer;
ALTER TABLE patients ADD COLUMN certified_by text;
ALTER TABLE patients ADD COLUMN certified_on date;
ALTER TABLE patients ADD COLUMN diagnosis_codes text[];
ALTER TABLE patients ADD COLUMN recertify_by date;
