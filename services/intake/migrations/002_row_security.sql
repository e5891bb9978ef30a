SELECT iopnet_confine_to_site('patients');
SELECT iopnet_confine_to_site('patient_identities');
