SELECT iopnet_confine_to_site('programs');
SELECT iopnet_confine_to_site('program_groups');
SELECT iopnet_confine_to_site('enrollments');
SELECT iopnet_confine_to_site('patient_sessions');
SELECT iopnet_confine_to_site('treatment_plans');
