-- Who decided the level of care, whether against the rules (PatientAdmitted and
-- AdmissionDeclined v2) and why (the private OverrideReasoned, sealed); the safety plan
-- in force (SafetyPlanRecorded). Rows of an earlier release keep NULL: unknown.
ALTER TABLE patients ADD COLUMN decided_by text;
ALTER TABLE patients ADD COLUMN overridden boolean;
ALTER TABLE patients ADD COLUMN rules_level text;
ALTER TABLE patients ADD COLUMN override_reason text;
ALTER TABLE patients ADD COLUMN safety_plan_id uuid;
